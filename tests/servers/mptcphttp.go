// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// A tiny net/http server listening the way Go >= 1.24 does by default: an
// MPTCP listener (net.ListenConfig with SetMultipathTCP(true)) on ":PORT",
// which Go opens as socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP) with
// IPV6_V6ONLY off. Built with CGO_ENABLED=0 by tests/daemons.py.
//
//	mptcphttp PORT
//
// Once listening it prints one JSON line on stdout: the port, what
// getsockopt(SO_PROTOCOL) and getsockopt(IPV6_V6ONLY) say of the listening
// socket, and whether Go itself thinks it is MPTCP.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mptcphttp PORT")
		os.Exit(2)
	}
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(true)
	l, err := lc.Listen(context.Background(), "tcp", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "mptcphttp:", err)
		os.Exit(1)
	}
	tl := l.(*net.TCPListener)
	raw, err := tl.SyscallConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mptcphttp:", err)
		os.Exit(1)
	}
	proto, v6only := -1, -1
	raw.Control(func(fd uintptr) {
		if v, e := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL); e == nil {
			proto = v
		}
		if v, e := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY); e == nil {
			v6only = v
		}
	})
	out, _ := json.Marshal(map[string]any{
		"port":        l.Addr().(*net.TCPAddr).Port,
		"so_protocol": proto,
		"v6only":      v6only,
		"go":          lc.MultipathTCP(),
	})
	fmt.Println(string(out))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "mptcphttp")
	})
	if err := http.Serve(l, nil); err != nil {
		fmt.Fprintln(os.Stderr, "mptcphttp:", err)
		os.Exit(1)
	}
}
