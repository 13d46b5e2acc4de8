"""Finding 8 (router side): two platforms (KV prefixes) share one router directory and the real
Traefik. Each one's controller route and certificates survive the other's start, sync and
withdraw, and both are served. A third platform is a real `paas-controller` whose start
publishes its own controller route (which used to replace the others') and syncs its (empty)
certificate set (which used to delete every other certificate in the directory)."""

from __future__ import annotations

import pytest

from paas.router import certs, files
from paas.router.publisher import FileCertPublisher
from tests.support.certs import make_self_signed
from tests.support.polling import wait_until
from tests.support.router_client import RouterAddress, RouterClient

from .. import harness
from ..conftest import unique
from ..integration.test_router import Backend

CONVERGE = 10.0


@pytest.fixture
def router():
    address = RouterAddress.from_env()
    client = RouterClient(address)
    yield address, client
    client.close()


def fingerprint_for(client: RouterClient, host: str) -> str | None:
    try:
        return certs.fingerprint(client.get(host, https=True, fresh=True).peer_cert)
    except OSError:
        return None


def answers(client: RouterClient, host: str, name: str) -> bool:
    try:
        response = client.get(host, fresh=True)
    except OSError:
        return False
    return response.status == 200 and response.text.startswith(name)


def test_two_platforms_keep_their_routes_and_certificates(router, controller, tmp_path):
    address, client = router
    platforms = {p: (f"{p}.test", Backend(p)) for p in (unique("plat-a"), unique("plat-b"))}
    c = unique("plat-c")
    (a, (a_domain, a_backend)), (b, (b_domain, b_backend)) = platforms.items()
    publishers = {p: FileCertPublisher(address.router_dir, p) for p in platforms}
    # The same app name on both platforms, each with its own certificate for its own host.
    pairs = {p: make_self_signed([f"web.{d}"], days=2) for p, (d, _) in platforms.items()}
    prints = {p: certs.validate(*pair).fingerprint for p, pair in pairs.items()}
    try:
        for p, (domain, backend) in platforms.items():  # each platform's start
            files.write_platform_route(address.router_dir, domain, [f"http://127.0.0.1:{backend.port}"], platform=p)
            publishers[p].sync({"web": pairs[p]})
        for p, (domain, _) in platforms.items():
            wait_until(lambda d=domain, p=p: answers(client, f"paas.{d}", p), CONVERGE, message=f"{p}'s controller route")
            wait_until(lambda d=domain, p=p: fingerprint_for(client, f"web.{d}") == prints[p], CONVERGE,
                     message=f"{p}'s certificate")

        # A real controller of a third platform starts with default settings but its prefix and
        # domain: it publishes its own controller route (under its prefix) and syncs its own
        # (empty) certificate set. It used to write paas.controller.yml, replacing another's.
        c_domain = f"{c}.test"
        proc, _ = harness.start_controller({"CONSUL_HTTP_ADDR": controller.env["CONSUL_HTTP_ADDR"],
                                            "PAAS_KV_PREFIX": c, "PAAS_DOMAIN": c_domain,
                                            "PAAS_ROUTER_DIR": str(address.router_dir),
                                            "PAAS_CONTROLLER_ROUTE": "1",
                                            "PAAS_DATA_DIR": str(tmp_path / "data-c")}, tmp_path / "c.log")
        try:
            assert files.route_path(address.router_dir, platform=c).is_file()
            wait_until(lambda: client.status(f"paas.{c_domain}", "/healthz", fresh=True) == 200, CONVERGE,
                     message="c's controller route")
            for p, (domain, _) in platforms.items():
                assert answers(client, f"paas.{domain}", p), p
                assert fingerprint_for(client, f"web.{domain}") == prints[p], p
        finally:
            harness.stop(proc)
            files.remove_platform_route(address.router_dir, platform=c)

        # b syncs an empty set, withdraws "web" and removes its route: a is untouched.
        publishers[b].sync({})
        publishers[b].withdraw("web")
        assert files.remove_platform_route(address.router_dir, platform=b)
        assert files.list_certificates(address.router_dir, platform=a) == ["web"]
        wait_until(lambda: not answers(client, f"paas.{b_domain}", b), CONVERGE, message="b's route to go")
        wait_until(lambda: fingerprint_for(client, f"web.{b_domain}") != prints[b], CONVERGE, message="b's certificate to go")
        assert answers(client, f"paas.{a_domain}", a)
        assert fingerprint_for(client, f"web.{a_domain}") == prints[a]
    finally:
        for p, (_, backend) in platforms.items():
            publishers[p].sync({})
            files.remove_platform_route(address.router_dir, platform=p)
            backend.close()
