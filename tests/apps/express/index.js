// Sample Express app for the paas builder tests (nodejs buildpack).
"use strict";

const os = require("os");
const express = require("express");

const app = express();
const port = Number(process.env.PORT || 5000);

app.get("/", (req, res) => {
  const greeting = process.env.GREETING || "Hello";
  res.type("text/plain").send(`${greeting} from paas express sample on ${os.hostname()}\n`);
});

app.get("/health", (req, res) => {
  res.type("text/plain").send("ok\n");
});

const server = app.listen(port, "0.0.0.0", () => {
  console.log(`express sample listening on port ${port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    console.log(`got ${signal}, closing`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
