"""Router pages for real: the shared Traefik (file provider + Consul catalog), the real Consul,
and the controller's API served in this process on a free loopback port (werkzeug), which the
fallback route written here points at. The test's platform has its own KV prefix and its own
platform domain, so its routes take no other test's hosts; every file, instance and app it
makes it removes. Waits poll with deadlines."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from werkzeug.serving import make_server

from paas.api import create_app
from paas.domain import names
from paas.domain.router_pages import PAGE_PATH
from paas.router import files, tags
from paas.wiring import Services, build_services
from tests.support.polling import wait_until
from tests.support.router_client import RouterAddress, RouterClient

from .. import harness
from ..conftest import ApiUser
from .test_router import Agent, Backend

pytestmark = pytest.mark.integration

CONVERGE = 10.0  # seconds for Traefik to follow a file or catalog change (measured: well under 1 s)
TRAEFIK_404 = "404 page not found"


@dataclass
class PagesPlatform:
    domain: str
    services: Services
    url: str
    api: object  # the Flask test client of the same app
    router_dir: object

    def call(self, user: ApiUser, method: str, path: str, json_body=None):
        return self.api.open(path, method=method, json=json_body, headers=user.headers,
                             query_string={"wait": "false"})


@pytest.fixture(scope="module")
def pages(settings, admin) -> Iterator[PagesPlatform]:
    router = RouterAddress.from_env()
    port = harness.free_port()
    domain = f"pg{uuid.uuid4().hex[:8]}.test"
    own = replace(settings, platform_domain=domain, bind=f"127.0.0.1:{port}", router_dir=router.router_dir)
    services = build_services(own)
    app = create_app(own, services)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    route = files.write_fallback_route(router.router_dir, domain, [own.controller_upstream], platform=own.kv_prefix)
    try:
        yield PagesPlatform(domain, services, own.controller_upstream, app.test_client(), router.router_dir)
    finally:
        route.unlink(missing_ok=True)
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[RouterClient]:
    client = RouterClient(RouterAddress.from_env())
    yield client
    client.close()


@pytest.fixture
def agent(consul_addr: str) -> Iterator[Agent]:
    agent = Agent(consul_addr)
    yield agent
    agent.cleanup()


def new_app(pages: PagesPlatform, user: ApiUser) -> str:
    name = f"rp-{uuid.uuid4().hex[:8]}"
    response = pages.call(user, "POST", "/v1/apps", {"name": name})
    assert response.status_code == 201, response.get_json()
    return name


def page_of(client: RouterClient, host: str, status: int, text: str, path: str = "/", accept: str = "text/html"):
    """A predicate: the router answers host with our page (status, and text in the body)."""
    def check():
        try:
            r = client.get(host, path, headers={"Accept": accept}, fresh=True)
        except OSError:
            return None
        return r if r.status == status and text in r.text else None
    return check


def test_unknown_hosts_get_a_friendly_404(pages, client):
    r = wait_until(page_of(client, f"ghost.{pages.domain}", 404, "No app here"), CONVERGE,
                   message="the fallback route")
    assert r.headers["content-type"].startswith("text/html")
    assert f"ghost.{pages.domain}" in r.text and TRAEFIK_404 not in r.text
    # Any other host too (the lowest-priority catch-all), in plain text when asked.
    r = wait_until(page_of(client, f"nothing-{uuid.uuid4().hex[:6]}.example", 404, "404 No app here",
                           accept="text/plain"), CONVERGE, message="the catch-all route")
    assert r.headers["content-type"].startswith("text/plain")
    # The fallback never reaches the API: every path is the page.
    r = client.get(f"ghost.{pages.domain}", "/v1/apps", headers={"Accept": "application/json"})
    assert r.status == 404 and json.loads(r.text)["reason"] == "unknown_host"


def test_app_never_deployed_answers_503_naming_it(pages, client, make_user):
    app = new_app(pages, make_user())
    host = f"{app}.{pages.domain}"
    r = wait_until(page_of(client, host, 503, f"{app} has not been deployed"), CONVERGE, message="the 503 page")
    assert r.headers["cache-control"] == "no-store"
    assert page_of(client, host, 503, f"{app} has not been deployed")() is not None
    r = client.get(host, https=True)  # the HTTPS entrypoint too
    assert r.status == 503 and f"{app} has not been deployed" in r.text
    r = client.get(host, headers={"Accept": "application/json"})
    assert r.status == 503
    assert json.loads(r.text) == {"status": 503, "reason": "not_deployed", "app": app,
                                  "message": json.loads(r.text)["message"]}


def test_maintenance_on_and_off(pages, client, agent, make_user):
    owner = make_user()
    app = new_app(pages, owner)
    host = f"{app}.{pages.domain}"
    web = Backend("live")
    try:
        agent.register(names.service(app), f"{names.service(app)}-1", web,
                       tags.live_tags(app, 1, tags.app_hosts(app, [], pages.domain)))
        wait_until(page_of(client, host, 200, "live "), CONVERGE, message="the app's route")
        assert pages.call(owner, "GET", f"/v1/apps/{app}/maintenance").get_json() == {"enabled": False}

        response = pages.call(owner, "PUT", f"/v1/apps/{app}/maintenance", {"enabled": True})
        assert response.status_code == 200 and response.get_json() == {"enabled": True}
        r = wait_until(page_of(client, host, 503, f"{app} is in maintenance"), CONVERGE, message="the maintenance page")
        assert r.headers["content-type"].startswith("text/html")
        assert pages.call(owner, "GET", f"/v1/apps/{app}").get_json()["maintenance"] is True
        hits = web.hits
        assert client.get(host, "/anything").status == 503
        assert web.hits == hits  # the instance keeps running, unrouted
        # Certificate challenges still reach the app.
        assert client.get(host, "/.well-known/acme-challenge/token").text.startswith("live ")

        assert pages.call(owner, "DELETE", f"/v1/apps/{app}/maintenance").get_json() == {"enabled": False}
        wait_until(page_of(client, host, 200, "live "), CONVERGE, message="the app to answer again")
    finally:
        files.remove_maintenance_route(pages.router_dir, app, platform=pages.services.settings.kv_prefix)
        web.close()


def test_an_app_whose_instances_all_fail_their_check_answers_503_not_responding(pages, client, agent, make_user):
    app = new_app(pages, make_user())
    host = f"{app}.{pages.domain}"
    states = pages.services.deploys.states
    state, index = states.get(app)
    state.live_release = 1  # deployed once: what a crash of every instance leaves behind
    states.put(app, state, index)
    web = Backend("live")
    try:
        agent.register(names.service(app), f"{names.service(app)}-1", web,
                       tags.live_tags(app, 1, tags.app_hosts(app, [], pages.domain)))
        wait_until(page_of(client, host, 200, "live "), CONVERGE, message="the app's route")
        web.healthy = False  # its check fails: Consul marks it critical and Traefik drops the route
        r = wait_until(page_of(client, host, 503, f"{app} is not responding"), CONVERGE,
                       message="the not-responding page")
        assert "paas logs" in r.text
        web.healthy = True
        wait_until(page_of(client, host, 200, "live "), CONVERGE, message="the app to answer again")
    finally:
        web.close()


def test_maintenance_is_for_the_owner_only(pages, make_user):
    owner, collaborator = make_user(), make_user()
    app = new_app(pages, owner)
    assert pages.call(owner, "POST", f"/v1/apps/{app}/perms", {"username": collaborator.username}).status_code < 300
    assert pages.call(collaborator, "POST", f"/v1/apps/{app}/maintenance").status_code == 403
    assert pages.call(collaborator, "GET", f"/v1/apps/{app}/maintenance").get_json() == {"enabled": False}
    assert pages.call(owner, "PUT", f"/v1/apps/{app}/maintenance", {"enabled": "yes"}).status_code == 422
    # Destroying an app in maintenance removes its route too.
    assert pages.call(owner, "POST", f"/v1/apps/{app}/maintenance").get_json() == {"enabled": True}
    prefix = pages.services.settings.kv_prefix
    assert files.list_maintenance_routes(pages.router_dir, platform=prefix) == [app]
    assert pages.call(owner, "DELETE", f"/v1/apps/{app}").status_code == 204
    assert app not in files.list_maintenance_routes(pages.router_dir, platform=prefix)


def raw_get(port: int, host_header: bytes, path: bytes = b"/") -> bytes:
    """One HTTP/1.1 request with exactly this Host header (no client library cleans it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: " + host_header + b"\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("host", [
    b"x'onmouseover=alert(1)'.test",
    b"<script>alert(1)</script>",
    b"\"><img src=x onerror=alert(1)>." + b"a" * 400,
])
def test_hostile_host_headers_are_never_reflected(pages, client, host):
    wait_until(page_of(client, f"ghost.{pages.domain}", 404, "No app here"), CONVERGE, message="the fallback route")
    port = RouterAddress.from_env().http_port
    answer = raw_get(port, host)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert host not in answer and b"<script>" not in answer and b"onmouseover" not in answer.split(b"\r\n\r\n", 1)[1]
    # The same header straight to the controller's page (Traefik refuses some of them itself).
    direct = raw_get(int(pages.url.rsplit(":", 1)[1]), host, PAGE_PATH.encode())
    assert b" 404 " in direct.split(b"\r\n", 1)[0] or direct.startswith(b"HTTP/1.1 400"), direct[:200]
    assert host not in direct and b"<script>" not in direct
