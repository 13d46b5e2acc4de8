"""Log drains in Consul KV: paas/drains/<app>/<id> = {id, app, url, created_at}. The URL is kept
whole (a drain's token lives in it); it leaves the API only masked (domain.logs.Drain.listed)."""

from __future__ import annotations

from paas.domain.logs import Drain

from .kv import ConsulKV, Op


class ConsulDrainStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, app: str, *rest: str) -> str:
        return self.kv.key("drains", app, *rest)

    def add(self, drain: Drain) -> None:
        self.kv.txn([Op.create(self._key(drain.app, drain.id), drain.to_dict())])

    def list(self, app: str) -> list[Drain]:
        entries = self.kv.tree(self._key(app) + "/")
        return sorted((Drain(**e.value) for e in entries), key=lambda d: (d.created_at, d.id))

    def remove(self, app: str, drain_id: str) -> bool:
        if self.kv.get(self._key(app, drain_id)) is None:
            return False
        self.kv.txn([Op.delete(self._key(app, drain_id))])
        return True

    def remove_app(self, app: str) -> None:
        self.kv.txn([Op.delete_tree(self._key(app) + "/")])
