"""Never runs: the build of this app fails on a dependency that does not exist."""

import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "unreachable\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "5000")))
