"""Which page the router shows for a host no instance answered (the controller's /_router/page,
reached through the router's fallback and maintenance routes: docs/router.md)."""

from __future__ import annotations

from paas.domain.apps import APP_NAME_RE, RESERVED_APP_NAMES
from paas.domain.ports import AppStore, DeployStateStore, FormationStore
from paas.domain.router_pages import AppFacts, RouterPage, page_for, request_hostname


class RouterPageService:
    def __init__(self, apps: AppStore, states: DeployStateStore, formations: FormationStore, platform_domain: str):
        self.apps = apps
        self.states = states
        self.formations = formations
        self.platform_domain = platform_domain

    def page(self, host_header: str | None) -> RouterPage:
        """The page for a request with this (hostile) Host header."""
        host = request_hostname(host_header)
        return page_for(host, self.facts(self.app_of(host)) if host else None)

    def app_of(self, host: str) -> str | None:
        """The app serving a valid hostname: <app>.<PAAS_DOMAIN>, else the app that claimed it."""
        label, _, rest = host.partition(".")
        if rest == self.platform_domain:
            if APP_NAME_RE.match(label) and label not in RESERVED_APP_NAMES:
                return label
            return None
        return self.apps.app_for_domain(host)

    def facts(self, name: str | None) -> AppFacts | None:
        found = self.apps.get(name) if name else None
        if found is None:
            return None
        app = found[0]
        state, _ = self.states.get(app.name)
        formation, _ = self.formations.get(app.name)
        web = formation.processes.get("web")
        in_flight = state.current is not None and not state.current.finished
        return AppFacts(name=app.name, maintenance=app.maintenance, live_release=state.live_release,
                        deploying=in_flight, web_quantity=web.quantity if web else 1)
