"""Sample Flask app for the paas builder tests (python buildpack)."""

import os
import socket

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    greeting = os.environ.get("GREETING", "Hello")
    return (
        f"{greeting} from paas flask sample on {socket.gethostname()}\n",
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
    )


@app.get("/health")
def health():
    # HEALTH_STATUS lets tests release a version whose health check fails.
    status = int(os.environ.get("HEALTH_STATUS", "200"))
    return ("ok\n" if status < 400 else "unhealthy\n"), status, {"Content-Type": "text/plain; charset=utf-8"}


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "5000")))
