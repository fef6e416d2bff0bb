const http = require("http");
http.createServer((req, res) => res.end("hello from the app\n")).listen(3000);
