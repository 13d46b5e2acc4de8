"""Finding 12: a tenant's certificate is served by SNI for every name it carries. User b tries to
upload certificates for the platform's wildcard, the controller's host, user a's domain and a
wildcard over a's domain (real API calls); each is refused with a clear message, nothing is
written for b, and the real Traefik keeps serving a's own certificate for a's host."""

from __future__ import annotations

import pytest

from paas.router import certs, files
from tests.support.certs import make_self_signed
from tests.support.polling import wait_until
from tests.support.router_client import RouterAddress, RouterClient

from ..conftest import unique
from ..integration.conftest import Api

CONVERGE = 10.0


@pytest.fixture
def tenants(flask_app, make_user, services):
    a = Api(flask_app.test_client(), make_user("certa"))
    b = Api(flask_app.test_client(), make_user("certb"))
    made = []

    def app(api: Api, prefix: str) -> str:
        name = api.new_app(prefix)
        made.append((api, name))
        return name

    yield a, b, app
    for api, name in made:
        api.delete(f"/v1/apps/{name}")


@pytest.fixture
def client():
    router = RouterAddress.from_env()
    client = RouterClient(router)
    yield client
    client.close()


def upload(api: Api, app: str, names: list[str]):
    cert, key = make_self_signed(names, days=2)
    return api.post(f"/v1/apps/{app}/certs", json={"cert": cert, "key": key})


def served_fingerprint(client: RouterClient, host: str) -> str | None:
    try:
        return certs.fingerprint(client.get(host, https=True, fresh=True).peer_cert)
    except OSError:
        return None


def test_certificates_only_for_the_apps_own_names(tenants, services, client):
    a, b, make_app = tenants
    domain = services.settings.platform_domain
    prefix = services.settings.kv_prefix
    a_app, b_app = make_app(a, "certa"), make_app(b, "certb")
    a_host = f"www.{a_app}.test"
    assert a.post(f"/v1/apps/{a_app}/domains", json={"domain": a_host}).status_code == 201
    a_cert, a_key = make_self_signed([a_host], days=2)
    r = a.post(f"/v1/apps/{a_app}/certs", json={"cert": a_cert, "key": a_key})
    assert r.status_code == 201, r.get_json()
    a_fingerprint = certs.validate(a_cert, a_key).fingerprint
    wait_until(lambda: served_fingerprint(client, a_host) == a_fingerprint, CONVERGE, message="a's certificate by SNI")

    # b owns a host next to a's, so a wildcard over a's domain covers one of b's too.
    b_host = f"api.{a_app}.test"
    assert b.post(f"/v1/apps/{b_app}/domains", json={"domain": b_host}).status_code == 201
    attempts = {
        f"*.{domain}": "belongs to the platform",
        f"paas.{domain}": "belongs to the platform",
        domain: "belongs to the platform",
        f"{a_app}.{domain}": "belongs to the platform",
        a_host: f"not a domain of {b_app}",
        f"*.{a_app}.test": "covers a domain of another app",
    }
    for name, message in attempts.items():
        r = upload(b, b_app, [name, b_host])
        assert r.status_code == 400, (name, r.get_json())
        assert message in r.get_json()["message"], (name, r.get_json())
    # Also as a second name of an otherwise fine certificate.
    r = upload(b, b_app, [b_host, f"*.{domain}"])
    assert r.status_code == 400 and "belongs to the platform" in r.get_json()["message"]

    # Nothing of b's attempts reached the store or the router; a's certificate is untouched.
    assert b.get(f"/v1/apps/{b_app}/certs").status_code == 404
    assert files.list_certificates(services.settings.router_dir, platform=prefix).count(b_app) == 0
    assert a_app in files.list_certificates(services.settings.router_dir, platform=prefix)
    assert served_fingerprint(client, a_host) == a_fingerprint
    for host in (f"paas.{domain}", f"{unique('other')}.{domain}", b_host):
        assert served_fingerprint(client, host) != a_fingerprint, host

    # b's own names are fine: its custom domain and its own <app>.<PAAS_DOMAIN>.
    r = upload(b, b_app, [b_host, f"{b_app}.{domain}"])
    assert r.status_code == 201, r.get_json()
    assert served_fingerprint(client, a_host) == a_fingerprint


def test_a_wildcard_certificate_keeps_other_tenants_off_its_names(tenants, services):
    a, b, make_app = tenants
    a_app, b_app = make_app(a, "wilda"), make_app(b, "wildb")
    zone = f"{a_app}.example.test"
    assert a.post(f"/v1/apps/{a_app}/domains", json={"domain": f"www.{zone}"}).status_code == 201
    r = upload(a, a_app, [f"*.{zone}"])
    assert r.status_code == 201, r.get_json()
    # b may not add a name the router would answer with a's certificate.
    r = b.post(f"/v1/apps/{b_app}/domains", json={"domain": f"shop.{zone}"})
    assert r.status_code == 409 and "wildcard certificate" in r.get_json()["message"], r.get_json()
    assert b.post(f"/v1/apps/{b_app}/domains", json={"domain": f"x.shop.{zone}"}).status_code == 201
