// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// What most Node services do: http.createServer().listen(PORT), with no
// host, which libuv opens as a dual-stack tcp6 socket on [::].
//
//     node node-http.js PORT
"use strict";
const http = require("http");
http.createServer((req, res) => res.end("node\n")).listen(Number(process.argv[2]));
