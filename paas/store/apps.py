"""Apps, their domains and their whole-app lifecycle (create with v1, destroy everything).

    <prefix>/apps/<app>          the App record
    <prefix>/app-ids/<app>       {"id"}: random, fixed at creation (the git repo's identity)
    <prefix>/destroying/<app>    tombstone of a destroy in progress {app, owner, destroyed_by, ...}
"""

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

    def _id_key(self, name: str) -> str:
        return self.kv.key("app-ids", name)

    def _tombstone_key(self, name: str) -> str:
        return self.kv.key("destroying", name)

    def create(self, app: App, first_release: Release, formation: Formation, app_id: str = "") -> None:
        ops = [
            Op.create(self._key(app.name), app.to_dict()),
            Op.create(self.kv.key("releases", app.name, "head"), first_release.version),
            Op.create(release_key(self.kv, app.name, first_release.version), first_release.to_dict()),
            Op.set(self.kv.key("formation", app.name), formation.to_dict()),
            # Not while a destroy of the name is unfinished: its cleanup would hit the new app.
            Op.check_not_exists(self._tombstone_key(app.name)),
            self.kv.changed(app.name),
        ]
        if app_id:
            # set, not create: a lookup racing the old app's destroy may have left an id behind.
            ops.append(Op.set(self._id_key(app.name), {"id": app_id, "created_at": app.created_at}))
        try:
            self.kv.txn(ops)
        except TxnFailed as exc:
            if 4 in exc.op_indexes:
                raise Conflict(f"App {app.name!r} is still being destroyed: try again in a moment") from None
            raise Conflict(f"App {app.name!r} already exists") from None

    def app_id(self, name: str, new_id: str) -> str:
        """The app's id; an app created before ids existed gets new_id (first writer wins)."""
        entry = self.kv.get(self._id_key(name))
        if entry is None:
            try:
                self.kv.txn([Op.create(self._id_key(name), {"id": new_id, "created_at": now_iso()})])
            except TxnFailed:
                pass  # another request assigned one first: read it
            entry = self.kv.get(self._id_key(name))
        if entry is None or not isinstance(entry.value, dict):
            raise ConcurrentUpdate(f"App {name!r} changed concurrently")
        return str(entry.value["id"])

    def get(self, name: str) -> tuple[App, int] | None:
        entry = self.kv.get(self._key(name))
        return (App.from_dict(entry.value), entry.index) if entry else None

    def list(self) -> list[App]:
        return [App.from_dict(e.value) for e in self.kv.tree(self.kv.key("apps") + "/")]

    def update(self, app: App, index: int) -> None:
        try:
            self.kv.txn([Op.cas(self._key(app.name), app.to_dict(), index), self.kv.changed(app.name)])
        except TxnFailed:
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently") from None

    def add_domain(self, app: App, index: int, domain: str) -> None:
        try:
            self.kv.txn([
                Op.cas(self._key(app.name), app.to_dict(), index),
                Op.create(self.kv.key("domains", domain), {"app": app.name, "created_at": now_iso()}),
                self.kv.changed(app.name),
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
                self.kv.changed(app.name),
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

    def app_for_domain(self, domain: str) -> str | None:
        entry = self.kv.get(self.kv.key("domains", domain))
        app = entry.value.get("app") if entry and isinstance(entry.value, dict) else None
        return app if isinstance(app, str) else None

    def _app_keys(self, name: str) -> list[dict]:
        """Deletes of every key of the app but its record, domain claims and tombstone."""
        return [
            Op.delete_tree(self.kv.key("releases", name) + "/"),
            Op.delete_tree(self.kv.key("builds", name) + "/"),
            Op.delete(self.kv.key("formation", name)),
            Op.delete(self.kv.key("certs", name)),
            Op.delete(self.kv.key("deploys", name)),
            Op.delete(self.kv.key("scheduler", "docker", name)),
            Op.delete(self._id_key(name)),
            # The supervisor holding it forgets it once the app is gone (services/supervisor.py).
            Op.delete(self.kv.key("locks", name)),
            Op.delete(self.kv.key("changes", name)),
        ]

    def destroy(self, app: App, index: int, tombstone: dict | None = None) -> None:
        """Delete the app record (check-and-set), its keys and domain claims in one transaction,
        leaving the tombstone that says the rest of its resources still have to go."""
        name = app.name
        ops = [
            Op.delete_cas(self._key(name), index),
            Op.set(self._tombstone_key(name), tombstone or {"app": name, "owner": app.owner}),
            *self._app_keys(name),
            *(Op.delete(self.kv.key("domains", d)) for d in app.domains),
        ]
        try:
            self.kv.txn(ops)
        except TxnFailed:
            raise ConcurrentUpdate(f"App {name!r} changed concurrently") from None

    def tombstone(self, name: str) -> tuple[dict, int] | None:
        entry = self.kv.get(self._tombstone_key(name))
        return (entry.value, entry.index) if entry else None

    def tombstones(self) -> list[str]:
        prefix = self.kv.key("destroying") + "/"
        return [k[len(prefix):] for k in self.kv.keys(prefix) if "/" not in k[len(prefix):]]

    def purge(self, name: str, tombstone_index: int) -> bool:
        """Delete whatever keys of a destroyed app appeared since (a step that raced the destroy)
        and its tombstone; only if the tombstone is still the one read (else: False, nothing)."""
        try:
            self.kv.txn([Op.delete_cas(self._tombstone_key(name), tombstone_index), *self._app_keys(name)])
        except TxnFailed:
            return False
        return True
