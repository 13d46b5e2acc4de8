"""Custom domains: valid hostnames, each owned by exactly one app."""

from __future__ import annotations

import re

from .errors import ValidationError

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_hostname(hostname: str) -> str:
    if not isinstance(hostname, str):
        raise ValidationError("Invalid domain: expected a hostname")
    name = hostname.strip().lower().rstrip(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(LABEL_RE.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
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
