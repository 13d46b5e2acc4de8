"""TLS: one certificate per app (served by SNI) and tls:force (HTTP redirects to HTTPS)."""

from __future__ import annotations

from paas.domain.apps import App
from paas.domain.domains import app_hosts
from paas.domain.errors import Conflict, NotFound
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
        self._refuse_other_apps_names(app, list(info["names"]))
        self.certs.put(app.name, {"cert": cert, "key": key, "info": info})
        self.publisher.publish(app.name, cert, key)
        return info

    def _refuse_other_apps_names(self, app: App, names: list[str]) -> None:
        """A certificate may not name a host another app owns: it would take over its SNI."""
        suffix = "." + self.platform_domain
        for other in self.apps.list():
            if other.name == app.name:
                continue
            owned = {f"{other.name}{suffix}", *other.domains}
            if owned & {n.lower() for n in names}:
                raise Conflict("The certificate names a domain of another app")

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
