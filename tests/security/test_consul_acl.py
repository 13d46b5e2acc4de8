"""Finding 2 (Consul side): the platform's Consul had no ACLs, so anything that reached it (a
Dockerfile's `ADD http://127.0.0.1:8500/v1/kv/...`) read every tenant's config secrets, password
hashes and TLS keys. Now scripts/services.sh runs Consul with ACLs denying by default and one token
per component (scripts/consul_acl.py); anonymous requests are refused and each token can do only
its component's work.

The first test attacks the Consul this run uses (scripts/test.sh's); the others use a private one
started through scripts/services.sh, whose token files they read.
"""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator

import pytest

from tests import harness


def url_of(addr: str) -> str:
    return addr if "://" in addr else f"http://{addr}"


def test_platform_consul_refuses_anonymous_requests(settings, services):
    base = url_of(settings.consul_addr)
    secret_key = services.kv.key("acl-probe", uuid.uuid4().hex[:8])
    services.kv.client.kv.put(secret_key, "B_SECRET=hunter2")
    anonymous = harness.consul_session("")
    try:
        read = anonymous.get(f"{base}/v1/kv/{secret_key}", params={"raw": "1"}, timeout=5)
        assert read.status_code == 403 and "hunter2" not in read.text, (
            f"anonymous KV read answered {read.status_code}: Consul's ACLs are off")
        listing = anonymous.get(f"{base}/v1/kv/{settings.kv_prefix}/", params={"recurse": "1"}, timeout=5)
        assert "hunter2" not in listing.text and listing.status_code in (403, 404), listing.text
        write = anonymous.put(f"{base}/v1/kv/{settings.kv_prefix}/acl-probe/planted", data="x", timeout=5)
        assert write.status_code == 403, write.text
        assert services.kv.client.kv.get(f"{settings.kv_prefix}/acl-probe/planted")[1] is None
        name = f"paas-test-evil-{uuid.uuid4().hex[:6]}"
        register = anonymous.put(f"{base}/v1/agent/service/register", json={"Name": name, "Port": 1}, timeout=5)
        assert register.status_code == 403, register.text
        catalog = anonymous.put(f"{base}/v1/catalog/register", timeout=5,
                                json={"Node": name, "Address": "10.0.0.1", "Service": {"Service": name}})
        assert catalog.status_code == 403, catalog.text
        assert name not in services.kv.client.catalog.services()[1]
        # Bootstrapped already: nobody gets a management token by asking for one.
        assert anonymous.put(f"{base}/v1/acl/bootstrap", timeout=5).status_code == 403
    finally:
        services.kv.client.kv.delete(services.kv.key("acl-probe"), recurse=True)


@pytest.fixture(scope="module")
def private(tmp_path_factory) -> Iterator[harness.PrivateServices]:
    services = harness.PrivateServices(tmp_path_factory.mktemp("consul-acl") / "run",
                                       PAAS_CONSUL_PORT=str(harness.free_port_block(6)))
    services("start", "consul")
    yield services
    services("stop", "consul")


@pytest.fixture(scope="module")
def base(private) -> str:
    return url_of(private.addr("consul"))


@pytest.fixture(scope="module")
def instance(private, base) -> Iterator[str]:
    """An app instance registered the way the docker scheduler does it, with the controller's token."""
    name = f"paas-test-{uuid.uuid4().hex[:6]}-web"
    http = harness.consul_session(private.token("controller"))
    http.put(f"{base}/v1/agent/service/register", timeout=5,
             json={"Name": name, "ID": name + "-1", "Port": 5000, "Check": {"TTL": "60s"}}).raise_for_status()
    yield name
    http.put(f"{base}/v1/agent/service/deregister/{name}-1", timeout=5).raise_for_status()


def test_token_files_are_root_only(private):
    assert stat.S_IMODE(private.secrets.stat().st_mode) == 0o700
    for component in ("management", "controller", "router", "agent"):
        path = private.secrets / f"consul-{component}.token"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == 0
        uuid.UUID(private.token(component))  # a real token, not an empty file


def test_router_token_reads_the_catalog_and_nothing_else(private, base, instance):
    router = harness.consul_session(private.token("router"))
    services = router.get(f"{base}/v1/catalog/services", timeout=5).json()
    assert instance in services
    assert router.get(f"{base}/v1/health/service/{instance}", timeout=5).json()
    refusals = {
        "KV read": router.get(f"{base}/v1/kv/paas/users/admin", timeout=5),
        "KV write": router.put(f"{base}/v1/kv/paas/planted", data="x", timeout=5),
        "service registration": router.put(f"{base}/v1/agent/service/register",
                                           json={"Name": "evil", "Port": 1}, timeout=5),
        "session": router.put(f"{base}/v1/session/create", json={"TTL": "15s"}, timeout=5),
        "ACL tokens": router.get(f"{base}/v1/acl/tokens", timeout=5),
    }
    allowed = {what: r.status_code for what, r in refusals.items() if r.status_code != 403}
    assert not allowed, f"the router token may do more than read the catalog: {allowed}"


def test_controller_token_is_confined_to_its_prefix(private, base):
    controller = harness.consul_session(private.token("controller"))
    key = f"paas-test-{uuid.uuid4().hex[:6]}/x"
    assert controller.put(f"{base}/v1/kv/{key}", data="ok", timeout=5).json() is True
    assert controller.get(f"{base}/v1/kv/{key}", params={"raw": "1"}, timeout=5).text == "ok"
    controller.delete(f"{base}/v1/kv/{key}", timeout=5).raise_for_status()
    session = controller.put(f"{base}/v1/session/create", json={"TTL": "15s"}, timeout=5)
    assert session.status_code == 200, session.text
    controller.put(f"{base}/v1/session/destroy/{session.json()['ID']}", timeout=5).raise_for_status()
    assert controller.put(f"{base}/v1/kv/vault/x", data="x", timeout=5).status_code == 403
    assert controller.get(f"{base}/v1/acl/tokens", timeout=5).status_code == 403


def test_agent_token_keeps_the_node_in_the_catalog(private, base, instance):
    """Anti-entropy works: the agent's node (its own token) and the registered instance are in the catalog."""
    router = harness.consul_session(private.token("router"))
    nodes = [n["Node"] for n in router.get(f"{base}/v1/catalog/nodes", timeout=5).json()]
    assert nodes == ["paas"]
    entries = router.get(f"{base}/v1/catalog/service/{instance}", timeout=5).json()
    assert [e["ServiceID"] for e in entries] == [instance + "-1"]
