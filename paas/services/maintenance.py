"""Maintenance mode: the app's hosts answer 503 "<app> is in maintenance" while its instances
keep running, so turning it off is instant. The flag lives in the app record (Consul KV); the
router follows it through the MaintenanceRouter port (a file-provider route ahead of the app's)."""

from __future__ import annotations

from paas.domain.apps import App
from paas.domain.domains import app_hosts
from paas.domain.ports import AppStore, MaintenanceRouter
from paas.domain.users import User

from .apps import AppService
from .retry import retry_on_conflict


class MaintenanceService:
    def __init__(self, apps: AppStore, app_service: AppService, router: MaintenanceRouter, platform_domain: str):
        self.apps = apps
        self.app_service = app_service
        self.router = router
        self.platform_domain = platform_domain

    def status(self, actor: User, app_name: str) -> bool:
        return self.app_service.get(actor, app_name).maintenance

    def set(self, actor: User, app_name: str, enabled: bool) -> bool:
        """Turn maintenance on or off (the app's owner or an admin, as for other app-wide
        settings). The flag is stored first: the page the router then shows reads it."""
        def attempt() -> App:
            app, index = self.app_service.get_with_index(actor, app_name)
            self.app_service.require_manager(actor, app)
            if app.maintenance != enabled:
                app.maintenance = enabled
                self.apps.update(app, index)
            return app

        app = retry_on_conflict(attempt)
        # Follow the stored flag, not this request's: of two racing toggles, the later read wins.
        self.refresh(app.name)
        return enabled

    def refresh(self, app_name: str) -> None:
        """Make the router follow the app's current hosts (after domains:add/remove)."""
        found = self.apps.get(app_name)
        if found is not None:
            self._follow(found[0])

    def sync(self) -> None:
        """Give the router every app's maintenance state (at controller start)."""
        self.router.sync({a.name: self._hosts(a) for a in self.apps.list() if a.maintenance})

    def _follow(self, app: App) -> None:
        if app.maintenance:
            self.router.divert(app.name, self._hosts(app))
        else:
            self.router.restore(app.name)

    def _hosts(self, app: App) -> list[str]:
        return app_hosts(app.name, app.domains, self.platform_domain)
