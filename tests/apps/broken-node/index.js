// Never runs: package.json has a syntax error (a trailing comma), so the build fails.
require("http").createServer((req, res) => res.end("unreachable\n")).listen(process.env.PORT || 5000);
