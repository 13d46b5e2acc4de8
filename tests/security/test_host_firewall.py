"""Finding 2 (host side): a tenant's container cannot open connections to the host itself.

The host's services listen on loopback, but a container reaches the host on its bridge's gateway
address (or any other host address). scripts/services.sh (`start firewall`) makes the host refuse
new connections arriving from the platform's bridges (paas.config APP_BRIDGE_PREFIX,
BUILD_BRIDGE_PREFIX); connections the host opens to containers (Consul's checks, Traefik) still work.
"""

from __future__ import annotations

import ipaddress
import uuid

import docker
import pytest
import requests

from paas.config import APP_BRIDGE_PREFIX, BUILD_BRIDGE_PREFIX
from tests.conftest import wait_until

IMAGE = "paas/stack-run:latest"
# Prints "connected" (the host's greeting) or the error, and exits 0 either way: the test reads it.
PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        print("connected", s.recv(16).decode())
except OSError as exc:
    print("refused", type(exc).__name__, exc)
"""


def tenant_network(client: docker.DockerClient, prefix: str):
    """A bridge network named the way the platform names its bridges (prefix + 12 hex)."""
    suffix = uuid.uuid4().hex[:12]
    return client.networks.create(f"paas-test-fw-{suffix}", driver="bridge",
                                  options={"com.docker.network.bridge.name": f"{prefix}{suffix}"})


def gateway_of(network) -> str:
    network.reload()
    config = network.attrs["IPAM"]["Config"][0]
    # Docker's default bridge lists only its subnet; its gateway is the subnet's first address.
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def probe(client: docker.DockerClient, network: str, address: str, port: int) -> str:
    container = client.containers.run(IMAGE, ["python3", "-c", PROBE, address, str(port)], network=network,
                                      detach=True, labels={"paas-test": "firewall"})
    try:
        result = container.wait(timeout=30)
        assert result["StatusCode"] == 0, container.logs().decode()
        return container.logs().decode().strip()
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("prefix", [APP_BRIDGE_PREFIX, BUILD_BRIDGE_PREFIX])
def test_tenant_bridge_cannot_reach_the_host(docker_client, host_server, prefix):
    network = tenant_network(docker_client, prefix)
    try:
        default_gateway = gateway_of(docker_client.networks.get("bridge"))
        # The control: from Docker's default bridge the same server answers, so the test can fail.
        assert probe(docker_client, "bridge", default_gateway, host_server) == "connected hello"
        # From the tenant's bridge: neither its own gateway nor another host address answers.
        for address in (gateway_of(network), default_gateway):
            seen = probe(docker_client, network.name, address, host_server)
            assert seen.startswith("refused ConnectionRefusedError"), (
                f"a container on {prefix}* reached the host at {address}:{host_server}: {seen}")
    finally:
        network.remove()


def test_host_still_reaches_a_tenant_container(docker_client):
    """Consul's health checks and Traefik open connections to containers: those still work."""
    network = tenant_network(docker_client, APP_BRIDGE_PREFIX)
    container = None
    try:
        container = docker_client.containers.run(IMAGE, ["python3", "-m", "http.server", "8000"],
                                                 network=network.name, detach=True,
                                                 labels={"paas-test": "firewall"})
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        http = requests.Session()
        http.trust_env = False

        def answers() -> bool:
            try:
                return http.get(f"http://{address}:8000/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(answers, timeout=30, message=f"the host to reach http://{address}:8000/ on {network.name}")
    finally:
        if container is not None:
            container.remove(force=True)
        network.remove()
