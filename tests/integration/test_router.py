"""The router for real: instances registered in the local Consul agent (as the Docker scheduler
registers them, with paas.router.tags), routed by the real Traefik that scripts/services.sh
runs, with certificates and the controller's route in its file-provider directory.

Backends are stdlib HTTP servers on 127.0.0.1:0; no Docker. Every service, certificate and
route here has a unique name and is removed by the test that made it. Waits poll with
deadlines; nothing sleeps blindly."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from paas.domain import names
from paas.router import certs, files, tags
from tests.support.certs import make_self_signed
from tests.support.polling import wait_until
from tests.support.router_client import RouterAddress, RouterClient

from .. import harness

pytestmark = pytest.mark.integration

CONVERGE = 10.0  # seconds: the deadline for any route change (measured: well under 1 s)


class Backend:
    """A tiny app instance: answers every GET with its name; /health follows `healthy`."""

    def __init__(self, name: str):
        self.name = name
        self.healthy = True
        self.hits = 0
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one segment, sent at once: otherwise Nagle's algorithm holds
            # the body until the proxy's delayed ACK (~40 ms), as with any app server that does
            # neither (gunicorn sets TCP_NODELAY).
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802 (stdlib name)
                if self.path == "/health":
                    status = 200 if backend.healthy else 503
                else:
                    backend.hits += 1
                    status = 200
                body = f"{backend.name} {self.headers.get('Host')} {self.headers.get('X-Forwarded-Proto')}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Agent:
    """The local Consul agent's service API, as the scheduler uses it."""

    addr: str
    registered: set[str] = field(default_factory=set)

    def __post_init__(self):
        self.url = self.addr if "://" in self.addr else f"http://{self.addr}"
        self.http = harness.consul_session()  # loopback, as the run's token (Consul has ACLs)

    def register(self, service: str, instance_id: str, backend: Backend, tag_list: list[str]) -> None:
        r = self.http.put(f"{self.url}/v1/agent/service/register", json={
            "Name": service, "ID": instance_id, "Address": "127.0.0.1", "Port": backend.port, "Tags": tag_list,
            "Check": {"HTTP": f"http://127.0.0.1:{backend.port}/health", "Interval": "1s", "Timeout": "1s"},
        }, timeout=5)
        r.raise_for_status()
        self.registered.add(instance_id)

    def deregister(self, instance_id: str) -> None:
        self.http.put(f"{self.url}/v1/agent/service/deregister/{instance_id}", timeout=5).raise_for_status()
        self.registered.discard(instance_id)

    def passing(self, service: str) -> set[str]:
        r = self.http.get(f"{self.url}/v1/health/service/{service}", params={"passing": "1"}, timeout=5)
        r.raise_for_status()
        return {e["Service"]["ID"] for e in r.json()}

    def cleanup(self) -> None:
        for instance_id in list(self.registered):
            self.deregister(instance_id)


@pytest.fixture(scope="module")
def router() -> RouterAddress:
    address = RouterAddress.from_env()
    try:
        # Traefik answers an unknown host with 404 on its HTTP entrypoint.
        requests.get(f"http://127.0.0.1:{address.http_port}/", headers={"Host": "nothing.invalid"}, timeout=2,
                     proxies={"http": None, "https": None})
    except requests.RequestException:
        pytest.fail(f"Traefik does not answer on 127.0.0.1:{address.http_port}: run the tests with "
                    "scripts/test.sh, or start it with scripts/services.sh start traefik")
    return address


@pytest.fixture
def agent(consul_addr: str) -> Iterator[Agent]:
    agent = Agent(consul_addr)
    yield agent
    agent.cleanup()


@pytest.fixture
def client(router: RouterAddress) -> Iterator[RouterClient]:
    client = RouterClient(router)
    yield client
    client.close()


@pytest.fixture
def backends() -> Iterator[callable]:
    made: list[Backend] = []

    def make(name: str) -> Backend:
        made.append(Backend(name))
        return made[-1]

    yield make
    for backend in made:
        backend.close()


def app_name() -> str:
    return f"rt-{uuid.uuid4().hex[:8]}"


def answers(client: RouterClient, host: str, backend_name: str, **kwargs):
    """A predicate: the router answers `host` from the named backend."""
    def check():
        try:
            r = client.get(host, **kwargs)
        except OSError:
            return None
        return r if r.status == 200 and r.text.startswith(backend_name + " ") else None
    return check


def status_is(client: RouterClient, host: str, status: int, **kwargs):
    return lambda: client.status(host, **kwargs) == status


def test_live_routed_canary_not_deregistered_gone(router, agent, client, backends):
    app = app_name()
    service = names.service(app)
    domain = f"www.{app}.test"
    hosts = tags.app_hosts(app, [domain], "paas.test")
    web = backends("v1")

    # A canary: registered and passing, but never routed.
    agent.register(service, f"{service}-1", web, tags.canary_tags(app, 1))
    wait_until(lambda: f"{service}-1" in agent.passing(service), CONVERGE, message="the canary's check to pass")
    # Traefik processes catalog changes in order: once a route registered after the canary
    # is live, Traefik has seen the passing canary too.
    marker_app = app_name()
    marker = backends("marker")
    agent.register(names.service(marker_app), f"{marker_app}-web-1", marker,
                   tags.live_tags(marker_app, 1, tags.app_hosts(marker_app, [], "paas.test")))
    wait_until(answers(client, f"{marker_app}.paas.test", "marker"), CONVERGE, message="the marker route")
    for host in hosts:
        assert client.status(host) == 404, host
    assert web.hits == 0

    # Promoted: the same instance, re-registered with live tags.
    agent.register(service, f"{service}-1", web, tags.live_tags(app, 1, hosts))
    r = wait_until(answers(client, hosts[0], "v1"), CONVERGE, message="the live route")
    assert r.text == f"v1 {hosts[0]} http"
    assert client.get(domain).text == f"v1 {domain} http"
    assert client.get(domain.upper()).status == 200  # hostnames are case-insensitive
    assert client.status(f"other.{app}.test") == 404

    agent.deregister(f"{service}-1")
    wait_until(status_is(client, hosts[0], 404), CONVERGE, message="the route to go after deregistration")
    assert client.status(domain) == 404


def test_failing_check_unroutes_and_recovery_reroutes(router, agent, client, backends):
    app = app_name()
    service = names.service(app)
    hosts = tags.app_hosts(app, [], "paas.test")
    a, b = backends("a"), backends("b")
    agent.register(service, f"{service}-a", a, tags.live_tags(app, 1, hosts))
    agent.register(service, f"{service}-b", b, tags.live_tags(app, 1, hosts))
    wait_until(answers(client, hosts[0], "a"), CONVERGE, message="instance a routed")
    wait_until(answers(client, hosts[0], "b"), CONVERGE, message="instance b routed")

    a.healthy = False
    wait_until(lambda: agent.passing(service) == {f"{service}-b"}, CONVERGE, message="a's check to fail")
    # Once Traefik has dropped a, 20 requests in a row all reach b.
    wait_until(lambda: all(answers(client, hosts[0], "b")() for _ in range(20)), CONVERGE, message="a unrouted")

    a.healthy = True
    wait_until(answers(client, hosts[0], "a"), CONVERGE, message="a routed again")


def test_retagging_instances_one_by_one_never_drops_the_app(router, agent, client, backends):
    """domains:add re-tags the instances one at a time. Old and new tags must coexist (Traefik
    drops a router that two instances define differently, which would be an outage)."""
    app = app_name()
    service = names.service(app)
    old_hosts = tags.app_hosts(app, [], "paas.test")
    new_hosts = tags.app_hosts(app, [f"www.{app}.test"], "paas.test")
    one, two = backends("one"), backends("two")
    agent.register(service, f"{service}-1", one, tags.live_tags(app, 1, old_hosts))
    agent.register(service, f"{service}-2", two, tags.live_tags(app, 1, old_hosts))
    wait_until(answers(client, old_hosts[0], "one"), CONVERGE, message="one routed")
    wait_until(answers(client, old_hosts[0], "two"), CONVERGE, message="two routed")

    failures: list[int | None] = []
    stop = threading.Event()

    def hammer():
        probe = RouterClient(router)
        while not stop.is_set():
            status = probe.status(old_hosts[0])
            if status != 200:
                failures.append(status)
        probe.close()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        agent.register(service, f"{service}-1", one, tags.live_tags(app, 1, new_hosts))
        wait_until(answers(client, new_hosts[1], "one"), CONVERGE, message="the new domain on instance one")
        time.sleep(0.5)  # hold the mixed state (instance two still has the old tags) under load
        agent.register(service, f"{service}-2", two, tags.live_tags(app, 1, new_hosts))
        wait_until(answers(client, new_hosts[1], "two"), CONVERGE, message="the new domain on instance two")
        # domains:remove: back to the old tags, one by one; the domain goes with the last one.
        agent.register(service, f"{service}-1", one, tags.live_tags(app, 1, old_hosts))
        agent.register(service, f"{service}-2", two, tags.live_tags(app, 1, old_hosts))
        wait_until(status_is(client, new_hosts[1], 404), CONVERGE, message="the removed domain to stop answering")
    finally:
        stop.set()
        thread.join()
    assert failures == []


def test_https_by_sni_and_tls_force(router, agent, client, backends):
    app = app_name()
    service = names.service(app)
    domain = f"www.{app}.test"
    hosts = tags.app_hosts(app, [domain], "paas.test")
    cert_pem, key_pem = make_self_signed([domain], days=2)
    info = certs.validate(cert_pem, key_pem, hosts=hosts)
    web = backends("tls")
    files.write_certificate(router.router_dir, app, cert_pem, key_pem)
    try:
        agent.register(service, f"{service}-1", web, tags.live_tags(app, 1, hosts))
        wait_until(answers(client, domain, "tls"), CONVERGE, message="the HTTP route")

        # HTTPS by SNI: Traefik presents exactly our certificate for the domain.
        r = wait_until(lambda: (x := answers(client, domain, "tls", https=True, fresh=True)()) and
                     certs.fingerprint(x.peer_cert) == info.fingerprint and x, CONVERGE, message="our certificate")
        assert r.text == f"tls {domain} https"
        # ...and it verifies against the certificate itself (hostname included).
        with open(router.router_dir / f".verify-{app}.pem", "w") as ca:
            ca.write(cert_pem)
        try:
            verified = RouterClient(router, verify=ca.name)
            assert verified.get(domain, https=True).status == 200
            with pytest.raises(ssl.SSLError):
                verified.get(hosts[0], https=True)  # not a name of this certificate
            verified.close()
        finally:
            (router.router_dir / f".verify-{app}.pem").unlink()

        # tls:force: plain HTTP redirects to HTTPS on the router's HTTPS port; HTTPS still answers.
        forced = tags.live_tags(app, 1, hosts, force_tls=True, https_port=router.https_port)
        agent.register(service, f"{service}-1", web, forced)
        r = wait_until(lambda: (x := client.get(domain, "/some/path?q=1")).status in (301, 308) and x,
                     CONVERGE, message="the redirect")
        assert r.headers["location"] == f"https://{domain}:{router.https_port}/some/path?q=1"
        assert answers(client, domain, "tls", https=True)()
    finally:
        files.remove_certificate(router.router_dir, app)
    # Without the certificate Traefik falls back to its own default one.
    wait_until(lambda: certs.fingerprint(client.get(domain, https=True, fresh=True).peer_cert) != info.fingerprint,
             CONVERGE, message="the certificate to be withdrawn")


def test_controller_route_from_the_file_provider(router, client, backends):
    controller = backends("controller")
    domain = f"{app_name()}.test"
    name = f"paas-controller-{uuid.uuid4().hex[:8]}"
    files.write_platform_route(router.router_dir, domain, [f"http://127.0.0.1:{controller.port}"], name=name)
    try:
        r = wait_until(answers(client, f"paas.{domain}", "controller"), CONVERGE, message="the controller route")
        assert r.text == f"controller paas.{domain} http"
        assert answers(client, f"paas.{domain}", "controller", https=True)()
    finally:
        files.remove_platform_route(router.router_dir, name)
    wait_until(status_is(client, f"paas.{domain}", 404), CONVERGE, message="the controller route to go")
