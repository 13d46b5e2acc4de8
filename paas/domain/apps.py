"""Apps: the named unit a user deploys; its name is a DNS label reused by every component."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import ValidationError
from .patterns import full

# Names the platform itself uses as hostnames under the platform domain.
RESERVED_APP_NAMES = {"paas", "www", "api", "git", "registry", "traefik", "consul", "nomad"}
APP_NAME_MIN, APP_NAME_MAX = 3, 40
# A DNS label of 3-40 characters without "--" (punycode's marker)...
APP_NAME_SHAPE = r"^(?!.*--)[a-z][a-z0-9-]{1,38}[a-z0-9]$"
APP_NAME_RE = full(APP_NAME_SHAPE)
# ... and not reserved: the whole rule, as the OpenAPI spec states it.
APP_NAME_PATTERN = "^(?!(?:" + "|".join(sorted(RESERVED_APP_NAMES)) + ")$)" + APP_NAME_SHAPE[1:]
MAX_DOMAINS_PER_APP = 50


@dataclass
class App:
    name: str
    owner: str
    created_at: str = ""
    members: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    tls_force: bool = False
    # Maintenance mode: the router answers the app's hosts with a 503 page while its instances
    # keep running, so turning it off is instant (services/maintenance.py).
    maintenance: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> App:
        return cls(**data)

    def role_of(self, username: str) -> str | None:
        if username == self.owner:
            return "owner"
        if username in self.members:
            return "collaborator"
        return None


def validate_app_name(name: str) -> str:
    if not isinstance(name, str) or not APP_NAME_RE.match(name):
        raise ValidationError(
            f"Invalid app name {str(name)[:60]!r}: use 3-40 lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    if name in RESERVED_APP_NAMES:
        raise ValidationError(f"App name {name!r} is reserved by the platform")
    return name
