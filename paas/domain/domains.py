"""Custom domains: valid hostnames, each owned by exactly one app."""

from __future__ import annotations

from .errors import ValidationError
from .patterns import full

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Two or more DNS labels, the last not all digits (not an IP address), an optional final dot;
# case-insensitive (names are stored lowercase). No whitespace: "www.example.com\n" is refused.
HOSTNAME_PATTERN = rf"^(?:{_LABEL}\.)+(?![0-9]+\.?$){_LABEL}\.?$"
HOSTNAME_RE = full(HOSTNAME_PATTERN)
MAX_HOSTNAME_LENGTH = 253


def validate_hostname(hostname: str) -> str:
    if not isinstance(hostname, str):
        raise ValidationError("Invalid domain: expected a hostname")
    name = hostname.lower().rstrip(".")
    if len(name) > MAX_HOSTNAME_LENGTH or not HOSTNAME_RE.match(hostname):
        raise ValidationError(f"Invalid domain {hostname[:80]!r}: expected a hostname such as www.example.com")
    return name


def app_hosts(app: str, domains: list[str], platform_domain: str) -> list[str]:
    """Every hostname the app answers: `<app>.<platform_domain>` first, then its custom domains
    (in their order, normalized, without duplicates)."""
    from .apps import validate_app_name

    hosts = [validate_hostname(f"{validate_app_name(app)}.{platform_domain}")]
    for domain in domains:
        host = validate_hostname(domain)
        if host not in hosts:
            hosts.append(host)
    return hosts
