"""Custom domains of an app, unique across the platform."""

from __future__ import annotations

from collections.abc import Callable

from paas.domain.apps import MAX_DOMAINS_PER_APP, App
from paas.domain.domains import validate_hostname
from paas.domain.errors import Conflict, NotFound, ValidationError
from paas.domain.ports import AppStore, CertStore
from paas.domain.users import User

from .apps import AppService
from .retry import retry_on_conflict
from .tls import wildcard_holders


class DomainService:
    def __init__(self, apps: AppStore, app_service: AppService, platform_domain: str, certs: CertStore,
                 on_change: Callable[[str], None] | None = None):
        self.apps = apps
        self.app_service = app_service
        self.platform_domain = platform_domain
        self.certs = certs
        # Called with the app's name after its domains changed (the maintenance route follows them).
        self.on_change = on_change

    def add(self, actor: User, app_name: str, hostname: str) -> str:
        domain = validate_hostname(hostname)
        if domain == self.platform_domain or domain.endswith("." + self.platform_domain):
            raise ValidationError(f"Domains under {self.platform_domain} belong to the platform")
        # The router would serve another app's wildcard certificate for this host (SNI).
        holders = wildcard_holders(domain, self.certs.all())

        def attempt() -> str:
            app, index = self.app_service.get_with_index(actor, app_name)
            if domain in app.domains:
                raise Conflict(f"{domain} is already a domain of {app.name}")
            if any(holder != app.name for holder in holders):
                raise Conflict(f"Domain {domain} is covered by another app's wildcard certificate")
            if len(app.domains) >= MAX_DOMAINS_PER_APP:
                raise ValidationError(f"An app can have at most {MAX_DOMAINS_PER_APP} domains")
            updated = App.from_dict({**app.to_dict(), "domains": sorted([*app.domains, domain])})
            self.apps.add_domain(updated, index, domain)
            return domain

        added = retry_on_conflict(attempt)
        self._changed(app_name)
        return added

    def list(self, actor: User, app_name: str) -> list[dict]:
        app = self.app_service.get(actor, app_name)
        return self.apps.domain_records(app.domains) if app.domains else []

    def remove(self, actor: User, app_name: str, hostname: str) -> None:
        domain = hostname.strip().lower().rstrip(".") if isinstance(hostname, str) else ""

        def attempt() -> None:
            app, index = self.app_service.get_with_index(actor, app_name)
            if domain not in app.domains:
                raise NotFound(f"{domain[:80]} is not a domain of {app.name}")
            updated = App.from_dict({**app.to_dict(), "domains": [d for d in app.domains if d != domain]})
            self.apps.remove_domain(updated, index, domain)

        retry_on_conflict(attempt)
        self._changed(app_name)

    def _changed(self, app_name: str) -> None:
        if self.on_change is not None:
            self.on_change(app_name)
