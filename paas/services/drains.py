"""Log drains: where an app's lines are forwarded as they are collected (drains:add/drains/
drains:remove). A drain URL is a tenant's, so it is checked as an SSRF attempt here (its form,
and an address literal against the policy) and again before every connection (names resolved
then: DNS rebinding cannot help), by the forwarder."""

from __future__ import annotations

import ipaddress
import secrets

from paas.domain.clock import now_iso
from paas.domain.errors import Conflict, NotFound, PermissionDenied, ValidationError
from paas.domain.logs import MAX_DRAINS_PER_APP, Drain, DrainPolicy, parse_drain_url
from paas.domain.ports import DrainStore
from paas.domain.users import User

from .apps import AppService


class DrainService:
    def __init__(self, store: DrainStore, apps: AppService, policy: DrainPolicy):
        self.store, self.apps, self.policy = store, apps, policy

    def add(self, actor: User, app_name: str, url: str) -> Drain:
        app = self.apps.get(actor, app_name)
        parsed = parse_drain_url(url)
        try:
            literal = ipaddress.ip_address(parsed.host)
        except ValueError:
            literal = None
        if literal is not None:
            try:
                self.policy.check_address(str(literal), parsed.port)
            except ValidationError as exc:
                raise PermissionDenied(str(exc)) from None  # a well-formed URL this platform refuses
        existing = self.store.list(app.name)
        if any(d.url == url for d in existing):
            raise Conflict(f"{parsed.masked()} is already a drain of {app.name}")
        if len(existing) >= MAX_DRAINS_PER_APP:
            raise Conflict(f"An app can have at most {MAX_DRAINS_PER_APP} drains: remove one first")
        drain = Drain(id=secrets.token_hex(4), app=app.name, url=url, created_at=now_iso())
        self.store.add(drain)
        return drain

    def list(self, actor: User, app_name: str) -> list[Drain]:
        return self.store.list(self.apps.get(actor, app_name).name)

    def remove(self, actor: User, app_name: str, drain_id: str) -> None:
        app = self.apps.get(actor, app_name)
        if not self.store.remove(app.name, drain_id):
            raise NotFound(f"{app.name} has no drain {drain_id[:20]!r}")

    def remove_app(self, app: str) -> None:
        self.store.remove_app(app)

    def of(self, app: str) -> list[Drain]:
        """The forwarder's view (no actor: the collector forwards every app's lines)."""
        return self.store.list(app)
