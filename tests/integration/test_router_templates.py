"""consul-templates/ rendered from the real Consul (tests.support.ctmpl stands in for
consul-template, which cannot be installed here) and served by the real routers: the Traefik
file-provider template through the running Traefik, the HAProxy template through a real HAProxy
2.6 started here on free loopback ports.

App records are written by the real store's key helpers under a private KV prefix; instances
are registered in the local agent with paas.router.tags, as the scheduler does."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from paas.domain import names
from paas.domain.apps import App
from paas.router import tags
from paas.store.apps import ConsulAppStore
from paas.store.kv import ConsulKV, connect
from tests.support.certs import make_self_signed
from tests.support.ctmpl import ConsulData, Renderer
from tests.support.polling import wait_until
from tests.support.router_client import RouterAddress, RouterClient

from .test_router import CONVERGE, Agent, Backend, answers, app_name, status_is

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "consul-templates"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """A private KV prefix and platform domain with two apps: `app` (a custom domain, one live
    instance with tls=force, one canary) and `idle` (no instances)."""

    def __init__(self, consul_addr: str, agent: Agent, https_port: int):
        self.prefix = f"paas-rt-{uuid.uuid4().hex[:8]}"
        self.domain = f"{uuid.uuid4().hex[:8]}.test"
        self.app, self.idle = app_name(), app_name()
        self.custom = f"www.{self.app}.test"
        self.kv = ConsulKV(connect(consul_addr, os.environ.get("CONSUL_HTTP_TOKEN")), self.prefix)
        store = ConsulAppStore(self.kv)
        for name, domains in ((self.app, [self.custom]), (self.idle, [])):
            record = App(name=name, owner="alice", created_at="2026-01-01T00:00:00Z", domains=domains)
            self.kv.put(store._key(name), record.to_dict())
        self.live, self.canary = Backend("live"), Backend("canary")
        # The tags route <app>.paas.test through Traefik's Consul provider; the templates route
        # this site's own domain, so the two never define the same host.
        hosts = tags.app_hosts(self.app, [], "paas.test")
        service = names.service(self.app)
        agent.register(service, f"{service}-live", self.live,
                       tags.live_tags(self.app, 2, hosts, force_tls=True, https_port=https_port))
        agent.register(service, f"{service}-canary", self.canary, tags.canary_tags(self.app, 3))
        wait_until(lambda: agent.passing(service) == {f"{service}-live", f"{service}-canary"}, CONVERGE,
                 message="both instances passing")
        self.consul = ConsulData(consul_addr, os.environ.get("CONSUL_HTTP_TOKEN"))

    def render(self, template: str, **env: str) -> str:
        env = {"PAAS_KV_PREFIX": self.prefix, "PAAS_DOMAIN": self.domain, **env}
        return Renderer(self.consul, env=env).render((TEMPLATES / template).read_text())

    def close(self) -> None:
        self.kv.txn([{"KV": {"Verb": "delete-tree", "Key": self.prefix + "/"}}])
        self.live.close()
        self.canary.close()


@pytest.fixture
def site(consul_addr: str) -> Iterator[Site]:
    agent = Agent(consul_addr)
    router = RouterAddress.from_env()
    site = Site(consul_addr, agent, router.https_port)
    yield site
    agent.cleanup()
    site.close()


def test_traefik_file_template_routes_live_instances_only(site: Site):
    router = RouterAddress.from_env()
    client = RouterClient(router)
    rendered = site.render("traefik-dynamic.yml.ctmpl", PAAS_HTTPS_PORT=str(router.https_port))
    target = router.router_dir / f"ctmpl-{site.prefix}.yml"
    tmp = router.router_dir / f".ctmpl-{site.prefix}.tmp"
    tmp.write_text(rendered)
    tmp.rename(target)  # atomically, as consul-template writes
    try:
        host = f"{site.app}.{site.domain}"
        # tls=force: plain HTTP redirects; HTTPS answers from the live instance.
        r = wait_until(lambda: (x := client.get(host)).status in (301, 308) and x, CONVERGE, message="the template's route")
        assert r.headers["location"] == f"https://{host}:{router.https_port}/"
        for h in (host, site.custom):
            for _ in range(20):
                assert answers(client, h, "live", https=True)(), h
        assert site.canary.hits == 0
        assert client.status(f"{site.idle}.{site.domain}") == 503  # an app with no instance
        assert client.status(f"nope.{site.domain}") == 404
    finally:
        target.unlink()
        client.close()
    wait_until(status_is(RouterClient(router), f"{site.app}.{site.domain}", 404), CONVERGE, message="the route to go")


@pytest.fixture
def haproxy_bin() -> str:
    path = shutil.which("haproxy")
    if not path:
        pytest.fail("haproxy is not installed: scripts/install.sh installs it")
    return path


def test_haproxy_template_in_a_real_haproxy(site: Site, haproxy_bin: str, tmp_path: Path):
    controller = Backend("controller")
    http_port, https_port = free_port(), free_port()
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir(mode=0o700)
    cert, key = make_self_signed([site.custom, f"{site.app}.{site.domain}"], days=2)
    (cert_dir / "app.pem").write_text(cert + key)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(site.render(
        "haproxy.cfg.ctmpl",
        PAAS_HAPROXY_HTTP_BIND=f"127.0.0.1:{http_port}", PAAS_HAPROXY_HTTPS_BIND=f"127.0.0.1:{https_port}",
        PAAS_HAPROXY_CERTS=str(cert_dir), PAAS_CONTROLLER_ADDR=f"127.0.0.1:{controller.port}",
    ))
    check = subprocess.run([haproxy_bin, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr

    log = open(tmp_path / "haproxy.log", "wb")
    proc = subprocess.Popen([haproxy_bin, "-db", "-f", str(cfg)], stdout=log, stderr=log)
    client = RouterClient(RouterAddress(http_port=http_port, https_port=https_port))
    try:
        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"haproxy exited: {(tmp_path / 'haproxy.log').read_text()[-2000:]}")
            return client.status(f"nope.{site.domain}") == 404

        wait_until(up, CONVERGE, message="HAProxy to answer")
        host = f"{site.app}.{site.domain}"
        r = client.get(host, "/x?y=1")
        assert r.status == 301 and r.headers["location"] == f"https://{host}/x?y=1"  # tls=force
        for h in (host, site.custom):
            for _ in range(20):
                assert answers(client, h, "live", https=True)(), h
        assert site.canary.hits == 0
        assert client.status(f"{site.idle}.{site.domain}", https=True) == 503
        assert answers(client, f"paas.{site.domain}", "controller")()
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        controller.close()
