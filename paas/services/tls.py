"""TLS: one certificate per app (served by SNI) and tls:force (HTTP redirects to HTTPS).

The router serves a certificate for *every* name it carries (Traefik: the CN, each DNS and IP
subjectAltName), to whoever asks by SNI. So a tenant's certificate may carry only names that
are the app's own (certificate_name_problem): its custom domains, its `<app>.<PAAS_DOMAIN>`, or
a wildcard over a domain outside the platform's that covers one of its domains and none of
another app's. Never the platform domain, `*.<PAAS_DOMAIN>`, the controller's host or anything
else under the platform domain.

`<app>.<PAAS_DOMAIN>` is allowed: no other tenant ever answers on that name (the app owns it
until it is destroyed, and destroy withdraws the certificate), an exact name outranks the
platform's wildcard only for that one host, and the platform routes HTTP-01 challenges for it
to the app, so a tenant can get a real certificate for it.
"""

from __future__ import annotations

from paas.domain.apps import App
from paas.domain.domains import HOSTNAME_RE, app_hosts
from paas.domain.errors import NotFound, ValidationError
from paas.domain.ports import AppStore, CertPublisher, CertStore
from paas.domain.users import User

from .apps import AppService
from .retry import retry_on_conflict


class TlsService:
    def __init__(self, apps: AppStore, app_service: AppService, certs: CertStore, publisher: CertPublisher,
                 platform_domain: str):
        self.apps = apps
        self.app_service = app_service
        self.certs = certs
        self.publisher = publisher
        self.platform_domain = platform_domain

    def add(self, actor: User, app_name: str, cert: str, key: str) -> dict:
        app = self.app_service.get(actor, app_name)
        info = self.publisher.inspect(cert, key, app_hosts(app.name, app.domains, self.platform_domain))
        others = [a for a in self.apps.list() if a.name != app.name]
        for name in info.get("served_names") or info["names"]:
            problem = certificate_name_problem(name, app, self.platform_domain, others)
            if problem:
                raise ValidationError(problem)
        self.certs.put(app.name, {"cert": cert, "key": key, "info": info})
        self.publisher.publish(app.name, cert, key)
        return info

    def info(self, actor: User, app_name: str) -> dict:
        app = self.app_service.get(actor, app_name)
        record = self.certs.get(app.name)
        if record is None:
            raise NotFound(f"{app.name} has no certificate")
        return record["info"]

    def remove(self, actor: User, app_name: str) -> None:
        app = self.app_service.get(actor, app_name)
        if self.certs.get(app.name) is None:
            raise NotFound(f"{app.name} has no certificate")
        self.certs.remove(app.name)
        self.publisher.withdraw(app.name)

    def force(self, actor: User, app_name: str, force: bool) -> bool:
        def attempt() -> bool:
            app, index = self.app_service.get_with_index(actor, app_name)
            app.tls_force = force
            self.apps.update(app, index)
            return force

        return retry_on_conflict(attempt)

    def sync(self) -> None:
        """Give the router every stored certificate (at controller start)."""
        self.publisher.sync({app: (r["cert"], r["key"]) for app, r in self.certs.all().items()})


def certificate_name_problem(name: str, app: App, platform_domain: str, others: list[App]) -> str | None:
    """Why the router must not serve `name` with app's certificate (None: it may). others: the
    platform's other apps. The messages never say which other app owns a name."""
    name = name.lower().rstrip(".")
    shown = name[:80]
    own_host = f"{app.name}.{platform_domain}"
    wildcard = name.startswith("*.")
    base = name[2:] if wildcard else name
    if not HOSTNAME_RE.match(base):
        return f"The certificate names {shown!r}, which is not a hostname: it may name only {app.name}'s domains"
    if base == platform_domain or base.endswith("." + platform_domain):
        if name == own_host:
            return None
        return (f"The certificate names {shown}, which belongs to the platform: under {platform_domain} "
                f"a certificate of {app.name} may name only {own_host}")
    if not wildcard:
        if name in app.domains:
            return None
        return f"The certificate names {shown}, which is not a domain of {app.name} (add it with domains:add first)"
    if not any(_covers(name, d) for d in app.domains):
        return f"The certificate names {shown}, which covers none of {app.name}'s domains"
    if any(_covers(name, d) for other in others for d in other.domains):
        return f"The certificate names {shown}, which also covers a domain of another app"
    return None


def wildcard_holders(host: str, records: dict[str, dict]) -> list[str]:
    """Apps whose stored certificate has a wildcard name covering host ({app: record})."""
    return sorted(app for app, record in records.items()
                  if any(n.startswith("*.") and _covers(n, host) for n in record.get("info", {}).get("names", [])))


def _covers(wildcard: str, host: str) -> bool:
    head, _, rest = host.partition(".")
    return bool(head) and rest == wildcard[2:]
