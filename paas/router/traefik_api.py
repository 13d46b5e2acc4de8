"""What Traefik serves now, read from its API (`GET /api/http/services/<name>@consulcatalog`):
the RouterView port. Read-only; the API listens on the platform's own loopback entrypoint."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit

import requests

log = logging.getLogger(__name__)
TIMEOUT = 1.0


class TraefikApi:
    def __init__(self, address: str, provider: str = "consulcatalog"):
        self.base = address if "://" in address else f"http://{address}"
        self.provider = provider
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: never through a proxy from the environment

    def servers(self, service: str) -> set[str] | None:
        url = f"{self.base}/api/http/services/{quote(service, safe='')}@{self.provider}"
        try:
            response = self.session.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.info("router api: %s", exc)
            return None
        if response.status_code == 404:
            return set()  # no passing instance: the service is not in Traefik's configuration
        if response.status_code != 200:
            return None
        servers = (response.json().get("loadBalancer") or {}).get("servers") or []
        return {urlsplit(s.get("url", "")).netloc for s in servers if s.get("url")}
