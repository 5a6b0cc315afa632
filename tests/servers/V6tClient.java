// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The classic Java client: new Socket("127.0.0.1", PORT). The JDK opens a
// tcp6 socket and connects it to ::ffff:127.0.0.1 (a mapped connect). It
// writes {"local_port":N,"echo":"..."} to FILE once connected and echoed,
// then holds the connection until its stdin closes.
//
//     java V6tClient HOST PORT FILE
import java.io.FileOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public class V6tClient {
	public static void main(String[] args) throws Exception {
		try (Socket s = new Socket(args[0], Integer.parseInt(args[1]))) {
			s.getOutputStream().write("ping\n".getBytes(StandardCharsets.US_ASCII));
			byte[] buf = new byte[5];
			int got = 0;
			while (got < 5) {
				int n = s.getInputStream().read(buf, got, 5 - got);
				if (n < 0)
					break;
				got += n;
			}
			String echo = new String(buf, 0, got, StandardCharsets.US_ASCII).trim();
			String json = "{\"local_port\":" + s.getLocalPort() + ",\"echo\":\"" + echo + "\"}\n";
			try (FileOutputStream f = new FileOutputStream(args[2] + ".tmp")) {
				f.write(json.getBytes(StandardCharsets.US_ASCII));
			}
			new java.io.File(args[2] + ".tmp").renameTo(new java.io.File(args[2]));
			while (System.in.read() >= 0) {
			}
		}
	}
}
