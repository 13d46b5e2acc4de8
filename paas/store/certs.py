"""TLS certificates in Consul KV: paas/certs/<app> = {cert, key, info}."""

from __future__ import annotations

from .kv import ConsulKV, Op


class ConsulCertStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, app: str) -> str:
        return self.kv.key("certs", app)

    def get(self, app: str) -> dict | None:
        entry = self.kv.get(self._key(app))
        return entry.value if entry else None

    def put(self, app: str, record: dict) -> None:
        self.kv.txn([Op.set(self._key(app), record)])

    def remove(self, app: str) -> None:
        self.kv.txn([Op.delete(self._key(app))])

    def all(self) -> dict[str, dict]:
        return {e.key.rsplit("/", 1)[1]: e.value for e in self.kv.tree(self.kv.key("certs") + "/")}
