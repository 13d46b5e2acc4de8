"""Apps, their domains and their whole-app lifecycle (create with v1, destroy everything)."""

from __future__ import annotations

from paas.domain.apps import App
from paas.domain.clock import now_iso
from paas.domain.errors import ConcurrentUpdate, Conflict
from paas.domain.formation import Formation
from paas.domain.releases import Release

from .kv import ConsulKV, Op, TxnFailed
from .releases import release_key


class ConsulAppStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, name: str) -> str:
        return self.kv.key("apps", name)

    def create(self, app: App, first_release: Release, formation: Formation) -> None:
        try:
            self.kv.txn([
                Op.create(self._key(app.name), app.to_dict()),
                Op.create(self.kv.key("releases", app.name, "head"), first_release.version),
                Op.create(release_key(self.kv, app.name, first_release.version), first_release.to_dict()),
                Op.set(self.kv.key("formation", app.name), formation.to_dict()),
            ])
        except TxnFailed:
            raise Conflict(f"App {app.name!r} already exists") from None

    def get(self, name: str) -> tuple[App, int] | None:
        entry = self.kv.get(self._key(name))
        return (App.from_dict(entry.value), entry.index) if entry else None

    def list(self) -> list[App]:
        return [App.from_dict(e.value) for e in self.kv.tree(self.kv.key("apps") + "/")]

    def update(self, app: App, index: int) -> None:
        try:
            self.kv.txn([Op.cas(self._key(app.name), app.to_dict(), index)])
        except TxnFailed:
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently") from None

    def add_domain(self, app: App, index: int, domain: str) -> None:
        try:
            self.kv.txn([
                Op.cas(self._key(app.name), app.to_dict(), index),
                Op.create(self.kv.key("domains", domain), {"app": app.name, "created_at": now_iso()}),
            ])
        except TxnFailed as exc:
            if 1 in exc.op_indexes:
                raise Conflict(f"Domain {domain} is already in use") from None
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently") from None

    def remove_domain(self, app: App, index: int, domain: str) -> None:
        try:
            self.kv.txn([
                Op.cas(self._key(app.name), app.to_dict(), index),
                Op.delete(self.kv.key("domains", domain)),
            ])
        except TxnFailed:
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently") from None

    def domain_records(self, domains: list[str]) -> list[dict]:
        """{domain, app, created_at} for each of the given domains."""
        try:
            entries = self.kv.get_many([self.kv.key("domains", d) for d in domains])
        except TxnFailed:
            raise ConcurrentUpdate("Domains changed while reading them") from None
        return [{"domain": e.key.rsplit("/", 1)[1], **e.value} for e in entries]

    def destroy(self, app: App, index: int) -> None:
        name = app.name
        ops = [
            Op.delete_cas(self._key(name), index),
            Op.delete_tree(self.kv.key("releases", name) + "/"),
            Op.delete_tree(self.kv.key("builds", name) + "/"),
            Op.delete(self.kv.key("formation", name)),
            Op.delete(self.kv.key("certs", name)),
            # The supervisor holding it forgets it once the app is gone (services/supervisor.py).
            Op.delete(self.kv.key("locks", name)),
            *(Op.delete(self.kv.key("domains", d)) for d in app.domains),
        ]
        try:
            self.kv.txn(ops)
        except TxnFailed:
            raise ConcurrentUpdate(f"App {name!r} changed concurrently") from None
