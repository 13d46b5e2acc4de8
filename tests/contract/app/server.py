"""The contract suite's app for the real legs (real Nomad, Docker): an HTTP server on $PORT whose
/health answers 500 when CONTRACT_UNHEALTHY=1, and that prints the suite's log marker. With
--worker it only prints the marker and sleeps. CONTRACT_EXIT=N: print the exit marker on stderr
and exit with N at once (a release that cannot start). Python standard library only."""

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MARKER = "contract-app listening"
EXIT_MARKER = "contract-app exiting on purpose"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        unhealthy = self.path == "/health" and os.environ.get("CONTRACT_UNHEALTHY") == "1"
        body = b"unhealthy\n" if unhealthy else f"release {os.environ.get('PAAS_RELEASE', '?')}\n".encode()
        self.send_response(500 if unhealthy else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    if os.environ.get("CONTRACT_EXIT"):
        code = int(os.environ["CONTRACT_EXIT"])
        print(EXIT_MARKER, file=sys.stderr, flush=True)
        print(f"exit code {code}", file=sys.stderr, flush=True)
        sys.exit(code)
    if "--worker" in sys.argv:
        print(f"{MARKER} (worker)", flush=True)
        while True:
            time.sleep(3600)
    port = int(os.environ.get("PORT", "5000"))
    server = HTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 -- inside its container
    print(f"{MARKER} on {port}", flush=True)
    server.serve_forever()
