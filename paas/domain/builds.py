"""Builds: the image a release runs, and the process types it offers."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .errors import ValidationError
from .patterns import full
from .processes import PROCESS_TYPE_PATTERN, PROCESS_TYPE_RE, validate_process_type  # noqa: F401 - re-exported
from .timeline import Mark

if TYPE_CHECKING:
    from .appjson import AppJson

# [registry/]path[:tag][@digest]. As in Docker, a first component is a registry only if it has
# a dot or a port or is localhost; path components are lowercase.
IMAGE_PATTERN = (
    r"^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+|localhost)/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
IMAGE_RE = full(IMAGE_PATTERN)
MAX_IMAGE_LENGTH = 512
MAX_COMMAND_LENGTH = 4096


@dataclass
class Build:
    id: str
    app: str
    image: str
    created_by: str
    created_at: str
    status: str = "succeeded"
    source: str = "image"
    git_sha: str | None = None
    procfile: dict[str, str] = field(default_factory=dict)
    finished_at: str | None = None
    digest: str | None = None
    duration: float | None = None
    size: int | None = None
    error: str | None = None
    # What the source's app.json declares (health checks, update settings); None without one.
    app_json: AppJson | None = None
    timeline: list[Mark] = field(default_factory=list)  # domain/timeline.BUILD_PHASES

    def to_dict(self) -> dict:
        return {**asdict(self), "timeline": [m.to_dict() for m in self.timeline]}

    @classmethod
    def from_dict(cls, data: dict) -> Build:
        # Imported here: appjson uses this module's patterns. Builds stored before app.json
        # support have no such key.
        from .appjson import AppJson

        declared = data.get("app_json")
        marks = [Mark.from_dict(m) for m in data.get("timeline") or []]
        return cls(**{**data, "app_json": AppJson.from_dict(declared) if declared is not None else None,
                      "timeline": marks})


def new_build_id() -> str:
    return uuid.uuid4().hex[:12]


def validate_image(image: str) -> str:
    if not isinstance(image, str) or len(image) > MAX_IMAGE_LENGTH or not IMAGE_RE.match(image):
        raise ValidationError(f"Invalid image reference {str(image)[:80]!r}: expected e.g. registry:5000/name:tag")
    return image


def validate_procfile(procfile: dict[str, str]) -> dict[str, str]:
    for name, command in procfile.items():
        validate_process_type(name)
        if not isinstance(command, str) or len(command) > MAX_COMMAND_LENGTH:
            raise ValidationError(f"Invalid command for process type {name}")
    return dict(procfile)


def parse_procfile(text: str) -> dict[str, str]:
    """Parse Procfile lines 'type: command'; blank lines and # comments are ignored."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not command.strip():
            raise ValidationError(f"Procfile line {number}: expected 'type: command'")
        result[validate_process_type(name.strip())] = command.strip()
    if not result:
        raise ValidationError("Procfile declares no process types")
    return result


# Spellings of a loopback registry host: Docker pulls from the engine's host, where each of these
# reaches a registry bound to the loopback interface.
LOOPBACK_HOSTS = {"localhost", "0.0.0.0", "::1", "[::1]", "::", "[::]"}


def _split_host(host: str) -> tuple[str, int | None]:
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep or not port.isdigit():
        return host.lower(), None
    return name.lower(), int(port)


def _is_loopback(name: str) -> bool:
    if name in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def platform_repository(image: str, registry: str) -> str | None:
    """The repository path of `image` if it names the platform's own registry (`registry`, as
    host[:port]) in any spelling: the configured host, or any loopback host, with or without
    the port; None for any other registry (or Docker Hub). The tag and digest are left out."""
    first, sep, rest = image.partition("/")
    if not sep or not ("." in first or ":" in first or first.lower() == "localhost"):
        return None  # no registry part: Docker Hub
    host, port = _split_host(first)
    reg_host, reg_port = _split_host(registry)
    same_host = host == reg_host or (_is_loopback(host) and _is_loopback(reg_host))
    if not same_host or port not in (None, reg_port):
        return None
    path = rest.split("@", 1)[0]
    repository, _, _tag = path.partition(":")
    return repository
