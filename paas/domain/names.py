"""Every name the platform gives to something outside itself, in one place: containers, Docker
networks, Consul services, Nomad jobs and images. A name that carries the platform (its KV
prefix) keeps platforms sharing one Docker engine or Consul apart."""

from __future__ import annotations

import secrets

WEB = "web"


def instance_container(app: str, process_type: str, release: int) -> str:
    """`paas-<app>-<type>-v<release>-<6 hex>`: unique per instance, readable in `docker ps`."""
    return f"paas-{app}-{process_type}-v{release}-{secrets.token_hex(3)}"


def run_container(app: str) -> str:
    return f"paas-{app}-run-{secrets.token_hex(3)}"


def app_network(platform: str, app: str) -> str:
    """Docker network of one app of one platform: `paas-<kv_prefix>-<app>`."""
    return f"paas-{platform}-{app}"


def build_network(platform: str) -> str:
    """The one build network of a platform: `paas-build-<kv_prefix>`."""
    return f"paas-build-{platform}"


def build_container(platform: str, app: str, build_id: str) -> str:
    return f"paas-build-{platform}-{app}-{build_id}"


def service(app: str, process_type: str = WEB) -> str:
    """The Consul service an app's instances of a process type register as: `<app>-<type>`."""
    return f"{app}-{process_type}"


def job(app: str) -> str:
    """The Nomad job of an app: `paas-<app>`."""
    return f"paas-{app}"


def run_job(app: str) -> str:
    """The parameterized Nomad job one-off runs dispatch from (`.` cannot occur in app names)."""
    return f"paas-{app}.run"


def repository(registry: str, app: str) -> str:
    """`<registry>/<app>`: one repository per app."""
    return f"{registry}/{app}"


def image(registry: str, app: str, build_id: str) -> str:
    """`<registry>/<app>:<build id>`: one tag per build."""
    return f"{repository(registry, app)}:{build_id}"
