"""Sample whose health check fails (standard library only).

GET / answers 200; GET /health answers HEALTH_STATUS (default 500), so a deploy checked on
/health must fail and say which status it got, while an unchecked one would go live.
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            status = int(os.environ.get("HEALTH_STATUS", "500"))
            body = b"ok\n" if status < 400 else b"database unreachable\n"
        elif self.path == "/":
            status, body = 200, b"Hello from the appjson-health sample\n"
        else:
            self.send_error(404)
            return
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write(f"{self.address_string()} - {fmt % args}\n")
        sys.stdout.flush()


def main():
    port = int(os.environ.get("PORT", "5000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"appjson-health sample listening on port {port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
