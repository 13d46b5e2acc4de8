"""Traffic through the real Traefik never sees a deploy: a steady stream of requests while the app
goes through config changes, rollbacks, scaling and a rolling restart; and domains route."""

from __future__ import annotations

import os
import threading

import pytest
import requests

from ..conftest import unique, wait_until
from .deploy_support import AppClient
from .test_deploy import WEB_AND_WORKER, flask_image  # noqa: F401 (fixture)

HTTP_PORT = int(os.environ.get("PAAS_HTTP_PORT", "8080"))
ROUTER = f"http://127.0.0.1:{HTTP_PORT}"


def through_router(host: str, timeout: float = 5) -> requests.Response:
    return requests.get(f"{ROUTER}/", headers={"Host": host}, timeout=timeout)


@pytest.fixture
def routed(controller, make_user, flask_image, settings):  # noqa: F811
    user = make_user("zdt")
    name = unique("zdt")
    client = AppClient(controller.url, user.token, name, settings.consul_addr)
    requests.post(f"{controller.url}/v1/apps", json={"name": name}, headers=user.headers, timeout=10)
    client.ok("PATCH", "/formation", json={"update": {"healthy_deadline": 30}})
    assert client.deploy_image(flask_image, WEB_AND_WORKER)["deployment"]["promoted"]
    host = f"{name}.{settings.platform_domain}"

    def answers() -> bool:
        try:
            return through_router(host, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(answers, timeout=15, message=f"{host} through Traefik")
    yield client, host
    client.call("DELETE")


class Load:
    """A steady stream of requests through Traefik; counts every non-2xx and connection error."""

    def __init__(self, host: str, workers: int = 2):
        self.host = host
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                response = session.get(f"{ROUTER}/", headers={"Host": self.host}, timeout=10)
                if 200 <= response.status_code < 300:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {response.status_code}")
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)


def test_no_failed_request_across_deploys_rollbacks_scaling_and_restart(routed):
    client, host = routed
    with Load(host) as load:
        for i in range(int(os.environ.get("PAAS_ZDT_CONFIG_CHANGES", "10"))):
            assert client.ok("PATCH", "/config", json={"values": {"ROUND": str(i)}})["deployment"]["promoted"]
        for _ in range(3):
            assert client.ok("POST", "/releases/rollback", json={})["deployment"]["promoted"]
        for web in (5, 2):
            client.ok("PATCH", "/formation", json={"quantities": {"web": web}})
            client.wait_passing(web, release=client.ok("GET", "")["release"], timeout=60)
        assert client.ok("POST", "/ps/restart", json={})["deployment"]["promoted"]
    print(f"zero-downtime: {load.ok} ok, {len(load.failures)} failed")
    assert load.ok > 100
    assert load.failures == []


def test_custom_domains_route_while_attached(routed):
    client, _ = routed
    domain = f"{unique('www')}.example.test"
    client.ok("POST", "/domains", json={"domain": domain})

    def status() -> int:
        try:
            return through_router(domain, timeout=2).status_code
        except requests.RequestException:
            return 0

    wait_until(lambda: status() == 200, timeout=15, message=f"{domain} to route")
    assert client.call("DELETE", f"/domains/{domain}").status_code == 204
    wait_until(lambda: status() == 404, timeout=15, message=f"{domain} to stop routing")


def test_https_by_sni_and_tls_force(routed, settings, tmp_path):
    from tests.support.certs import make_self_signed
    from tests.support.router_client import RouterClient

    client, host = routed
    cert, key = make_self_signed([host])
    added = client.ok("POST", "/certs", json={"cert": cert, "key": key})
    assert host in added["names"] and "key" not in added
    assert "PRIVATE KEY" not in client.call("GET", "/certs").text
    ca = tmp_path / "ca.pem"
    ca.write_text(cert)
    router = RouterClient(verify=str(ca))

    wait_until(lambda: router.status(host, https=True, fresh=True) == 200, timeout=15,
               message="HTTPS by SNI with the app's certificate")
    client.ok("PUT", "/tls", json={"force": True})

    def redirected() -> bool:
        response = router.request(host, fresh=True)
        return response.status in (301, 308) and response.headers.get("location", "").startswith("https://")

    wait_until(redirected, timeout=20, message="tls:force to redirect HTTP to HTTPS")
    assert router.status(host, https=True, fresh=True) == 200
    client.ok("PUT", "/tls", json={"force": False})
    wait_until(lambda: router.status(host, fresh=True) == 200, timeout=20, message="plain HTTP again")

    other = client.call("POST", "/certs", json={"cert": make_self_signed(["elsewhere.example.org"])[0], "key": key})
    assert other.status_code == 400
    router.close()
