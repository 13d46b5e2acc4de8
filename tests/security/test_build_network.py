"""Finding 2 and the build side of 7: from inside a build (a buildpack's compile step and a
Dockerfile RUN step) the host's Consul, registry, controller and Traefik and another app's
container are unreachable, while PyPI still is; `ADD <url>` (fetched by dockerd on the host's
network) and `FROM <registry>/<other app>` are refused before anything is fetched.

The build runs on the platform's build network (paas-build-<prefix>, bridge pb-...). Loopback
services are out of its reach by construction; a service bound to 0.0.0.0 on the host (the
`host_server` target) is refused only by the host firewall of scripts/services.sh."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlparse

import pytest

from paas.builder import build_spec
from paas.domain.errors import BuildFailed
from paas.wiring import build_services

from ..conftest import unique
from ..integration.builder_support import build_network_cleanup  # noqa: F401

pytestmark = pytest.mark.usefixtures("build_network_cleanup")

# Prints "PROBE name open|closed" per target; exits 0 either way: the test reads the lines.
PROBE = r"""
import socket, sys
for target in sys.argv[1:]:
    name, host, port = target.rsplit(":", 2)
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            print("PROBE", name, "open", flush=True)
    except OSError:
        print("PROBE", name, "closed", flush=True)
"""


@pytest.fixture
def other_app(docker_client) -> Iterator[str]:
    """Another tenant's container (a plain one on a network of its own), answering on 5000."""
    network = docker_client.networks.create(f"paas-test-other-{uuid.uuid4().hex[:8]}", driver="bridge")
    container = docker_client.containers.run("paas/stack-run:latest", ["python3", "-m", "http.server", "5000"],
                                             detach=True, network=network.name, labels={"paas-test": "build-net"})
    try:
        container.reload()
        yield container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    finally:
        container.remove(force=True)
        network.remove()


def host_address() -> str:
    """The host's own (eth0) address, as a container would dial it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.254", 9))
        return udp.getsockname()[0]


@pytest.fixture
def targets(settings, controller, docker_client, host_server, other_app) -> list[str]:
    builder = build_services(settings).builds.builder
    network = docker_client.networks.get(builder.build_network())
    gateway = network.attrs["IPAM"]["Config"][0].get("Gateway") or str(
        next(ipaddress.ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"]).hosts()))
    consul_port = int(settings.consul_addr.rsplit(":", 1)[1])
    registry_port = int(settings.registry.rsplit(":", 1)[1])
    controller_port = urlparse(controller.url).port
    found = []
    for label, address in (("loopback", "127.0.0.1"), ("gateway", gateway), ("host", host_address())):
        found += [f"consul-{label}:{address}:{consul_port}", f"registry-{label}:{address}:{registry_port}",
                  f"controller-{label}:{address}:{controller_port}", f"traefik-{label}:{address}:{settings.http_port}"]
    found += [f"hostserver-gateway:{gateway}:{host_server}", f"hostserver-host:{host_address()}:{host_server}",
              f"otherapp:{other_app}:5000"]
    return found


def probes(lines: list[str]) -> dict[str, str]:
    result = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "PROBE":
            result[parts[1]] = parts[2]
    return result


@pytest.fixture
def owner_app(services, make_user):
    owner = services.auth.authenticate(make_user("netb").token)
    name = unique("net")
    services.apps.create(owner, name)
    yield owner, name
    services.apps.destroy(owner, name)


def test_a_buildpack_build_reaches_pypi_but_no_host_service_or_other_app(settings, owner_app, targets, tmp_path):
    owner, app = owner_app
    pack = tmp_path / "probe-pack"
    (pack / "bin").mkdir(parents=True)
    (pack / "probe.py").write_text(PROBE)
    (pack / "bin" / "detect").write_text("#!/bin/bash\necho Probe\n")
    (pack / "bin" / "compile").write_text(
        "#!/bin/bash\n"
        f'python3 "$(dirname "$0")/../probe.py" {" ".join(targets)}\n'
        'if python3 -m pip install -q --no-cache-dir --target /tmp/six six >/dev/null 2>&1; then echo "PROBE pypi open";'
        ' else echo "PROBE pypi closed"; fi\n'
        "exit 1\n")
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    source = tmp_path / "src"
    source.mkdir()
    (source / ".buildpacks").write_text(f"{pack}\n")
    lines: list[str] = []
    allowed = build_services(replace(settings, buildpack_dirs=(tmp_path,)))
    with pytest.raises(BuildFailed, match="compile step failed"):
        allowed.builds.create_from_source(app, owner, source, lines.append)
    seen = probes(lines)
    assert seen.pop("pypi") == "open", lines
    assert set(seen) == {t.split(":")[0] for t in targets}, lines
    assert {name: state for name, state in seen.items() if state != "closed"} == {}


def test_a_dockerfile_run_step_reaches_no_host_service_or_other_app(services, owner_app, targets, tmp_path):
    owner, app = owner_app
    source = tmp_path / "src"
    source.mkdir()
    (source / "probe.py").write_text(PROBE)
    (source / "Dockerfile").write_text(
        "FROM paas/stack-run:latest\nCOPY probe.py /probe.py\n"
        f"RUN python3 /probe.py {' '.join(targets)} && false\n")
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="docker build failed"):
        services.builds.create_from_source(app, owner, source, lines.append)
    seen = probes(" ".join(line.split()) for line in lines)
    assert set(seen) == {t.split(":")[0] for t in targets}, lines
    assert {name: state for name, state in seen.items() if state != "closed"} == {}


@pytest.fixture
def other_tenant_secret(services, make_user) -> Iterator[tuple[str, str]]:
    """User b's app with a secret in its config, and its name."""
    owner = services.auth.authenticate(make_user("netsecret").token)
    name = unique("secret")
    services.apps.create(owner, name)
    secret = f"B_SECRET-{uuid.uuid4().hex}"
    services.config.change(name, owner, {"B_SECRET": secret})
    yield name, secret
    services.apps.destroy(owner, name)


@pytest.mark.parametrize("dockerfile,message", [
    ("FROM paas/stack-run:latest\nADD http://127.0.0.1:{consul_port}/v1/kv/{prefix}/?recurse=true /kv.json\n",
     "line 2: ADD http://127.0.0.1"),
    ("FROM paas/stack-run:latest\nADD http://localhost:{consul_port}/v1/kv/{prefix}/apps/{other}/config /c\n",
     "line 2: ADD http://localhost"),
    ("FROM {registry}/{other}:latest\n", "line 1: FROM {registry}/{other}"),
    ("FROM localhost:{registry_port}/{other}\n", "line 1: FROM localhost"),
    ("FROM paas/stack-run:latest AS base\nCOPY --from={registry}/{other}:x /app /stolen\n", "line 2: COPY --from"),
])
def test_remote_add_and_other_apps_images_are_refused(settings, services, owner_app, other_tenant_secret,
                                                     docker_client, tmp_path, dockerfile, message):
    owner, app = owner_app
    other, secret = other_tenant_secret
    values = {"consul_port": settings.consul_addr.rsplit(":", 1)[1], "prefix": settings.kv_prefix, "other": other,
              "registry": settings.registry, "registry_port": settings.registry.rsplit(":", 1)[1]}
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(dockerfile.format(**values))
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="The Dockerfile is refused") as caught:
        services.builds.create_from_source(app, owner, source, lines.append)
    assert message.format(**values) in str(caught.value)
    assert secret not in str(caught.value) + "\n".join(lines)
    assert services.releases.current(app).version == 1
    assert not docker_client.images.list(name=f"{settings.registry}/{app}")


def test_the_build_network_is_the_platforms_own_bridge(settings, docker_client):
    builder = build_services(settings).builds.builder
    name = builder.build_network()
    assert builder.build_network() == name  # idempotent
    network = docker_client.networks.get(name)
    spec = build_spec.network_spec(settings.kv_prefix)
    assert network.attrs["Options"] == spec["options"]
    assert network.attrs["Labels"]["paas.platform"] == settings.kv_prefix

