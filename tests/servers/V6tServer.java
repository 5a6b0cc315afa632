// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The classic Java server: new ServerSocket(PORT), which the JDK opens as a
// tcp6 socket on [::] with IPV6_V6ONLY off, so an IPv4 client is accepted
// as ::ffff:a.b.c.d. One echo thread per connection.
//
//     java V6tServer PORT
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;

public class V6tServer {
	public static void main(String[] args) throws Exception {
		ServerSocket server = new ServerSocket(Integer.parseInt(args[0]));
		for (;;) {
			Socket s = server.accept();
			Thread t = new Thread(() -> {
				try (Socket c = s) {
					InputStream in = c.getInputStream();
					OutputStream out = c.getOutputStream();
					byte[] buf = new byte[512];
					int n;
					while ((n = in.read(buf)) > 0)
						out.write(buf, 0, n);
				} catch (Exception e) {
				}
			});
			t.setDaemon(true);
			t.start();
		}
	}
}
