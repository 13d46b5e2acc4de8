"""Log drains: the API over the real Consul, and forwarding to a real syslog listener on
loopback (allowed by this test's own policy, as PAAS_DRAIN_ALLOW_NETWORKS would)."""

from __future__ import annotations

import base64
import http.server
import re
import socket
import ssl
import threading
import time

from paas.domain.logs import DrainPolicy
from paas.logstore.drains import DrainForwarder
from paas.logstore.sqlite import SqliteLogStore

from ..conftest import wait_until
from ..support.certs import make_ca_signed
from ..support.syslog import SyslogListener
from .test_log_collector import collector_for, platform, run  # noqa: F401 (platform is a fixture)


def test_drains_are_added_listed_masked_and_removed_and_refused_for_the_host(api):
    name = api.new_app("drains")
    base = f"/v1/apps/{name}/drains"
    added = api.post(base, json={"url": "https://user:tok3n@logs.example.com/ingest?key=s3cret"})
    assert added.status_code == 201, added.get_json()
    listed = api.get(base).get_json()["results"]
    assert [d["url"] for d in listed] == ["https://logs.example.com:443/ingest"]
    assert "s3cret" not in api.get(base).get_data(as_text=True) and "tok3n" not in api.get(base).get_data(as_text=True)
    for url in ("syslog://127.0.0.1:514", "https://169.254.169.254/latest", "ftp://logs.example.com:21",
                "syslog://10.0.0.1:514"):
        assert api.post(base, json={"url": url}).status_code in (400, 403, 422), url
    assert api.delete(f"{base}/{added.get_json()['id']}").status_code == 204
    assert api.get(base).get_json()["results"] == []
    assert api.delete(f"{base}/nothere").status_code == 404


def test_a_syslog_drain_receives_the_apps_lines_within_a_second(platform, docker_client, tmp_path):  # noqa: F811
    listener = SyslogListener()
    drain_url = f"syslog://127.0.0.1:{listener.port}"
    from paas.domain.logs import Drain

    drains = {"shop": [Drain("d1", "shop", drain_url, "now")]}
    forwarder = DrainForwarder(lambda app: drains.get(app, []), DrainPolicy(allowed_networks=("127.0.0.1/32",)))
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    collector = collector_for(platform, store, tmp_path, docker_client, forward=forwarder.forward)
    collector.start()
    container = run(docker_client, platform, "shop", "for i in 1 2 3 4 5; do echo hello $i; sleep 0.2; done; sleep 30")
    try:
        wait_until(lambda: len(listener.frames) >= 5, timeout=10, message="five frames at the drain")
    finally:
        collector.stop()
        forwarder.stop()
        listener.close()
        container.remove(force=True)
    source = f"web.{container.name[-6:]}"
    for arrived, frame in listener.frames:
        match = re.fullmatch(rf"<14>1 (\S+) shop app {re.escape(source)} - - (hello \d)", frame)
        assert match, frame
        written = [line.ts for _, line in store.read("shop", 100) if line.text == match[2]][0]
        assert arrived - written < 1.0, (frame, arrived - written)  # Docker's time of the write
    assert [f.rsplit(" ", 1)[-1] for _, f in listener.frames] == ["1", "2", "3", "4", "5"]


def test_a_dead_drain_never_blocks_collection(platform, docker_client, tmp_path):  # noqa: F811
    from paas.domain.logs import Drain

    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every connection is refused
    forwarder = DrainForwarder(lambda app: [Drain("d1", app, f"syslog://127.0.0.1:{port}", "now")],
                               DrainPolicy(allowed_networks=("127.0.0.1/32",)))
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 100_000, 3600)
    collector = collector_for(platform, store, tmp_path, docker_client, forward=forwarder.forward)
    collector.start()
    container = run(docker_client, platform, "shop", "seq 1 20000; sleep 30")
    try:
        wait_until(lambda: len(store.read("shop", 30000)) == 20000, timeout=20, message="every line stored")
    finally:
        collector.stop()
        forwarder.stop()
        container.remove(force=True)
    stats = forwarder.stats()["d1"]
    assert stats.dropped > 0 and stats.errors > 0 and stats.sent == 0


class HttpsListener:
    """An HTTPS endpoint on loopback (its certificate from a private CA) keeping each POST."""

    def __init__(self, tmp_path):
        ca, cert, key = make_ca_signed(["localhost"])
        (tmp_path / "ca.pem").write_text(ca)
        (tmp_path / "server.pem").write_text(cert + key)
        self.ca_file = str(tmp_path / "ca.pem")
        self.posts: list[tuple[float, dict, bytes]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                listener.posts.append((time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "server.pem")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_https_drain_gets_logplex_batches_verified_against_its_ca_and_the_token_in_basic_auth(tmp_path):
    from paas.domain.logs import Drain, LogLine

    listener = HttpsListener(tmp_path)
    url = f"https://drain:t0ken@localhost:{listener.port}/ingest"
    policy = DrainPolicy(allowed_networks=("127.0.0.0/8", "::1/128"))
    lines = [LogLine(time.time(), "shop", "web.1a2b3c", "web", f"hello {n}") for n in range(3)]
    trusting = DrainForwarder(lambda app: [Drain("d1", app, url, "now")], policy, ca_certs=listener.ca_file)
    # Without the CA the certificate is not trusted: nothing is sent, the error is counted.
    untrusting = DrainForwarder(lambda app: [Drain("d2", app, url, "now")], policy)
    try:
        untrusting.forward(lines)
        trusting.forward(lines)
        wait_until(lambda: sum(int(h["logplex-msg-count"]) for _, h, _ in listener.posts) >= 3, timeout=10,
                   message="three lines posted")
        wait_until(lambda: untrusting.stats()["d2"].errors > 0, timeout=10, message="the untrusted drain's error")
    finally:
        trusting.stop()
        untrusting.stop()
        listener.close()
    _, headers, body = listener.posts[0]
    assert headers["content-type"] == "application/logplex-1"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"drain:t0ken").decode()
    assert [frame.rsplit(" ", 1)[-1] for frame in re.findall(r"<14>1 [^\n]*", body.decode())][:3] == ["0", "1", "2"]
    assert trusting.stats()["d1"].sent >= 3 and untrusting.stats()["d2"].sent == 0
