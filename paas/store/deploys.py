"""Deploy state per app in Consul KV: {live_release, live_token, deployment, failed_target, history}."""

from __future__ import annotations

from paas.domain.errors import ConcurrentUpdate

from .kv import ConsulKV, Op, TxnFailed


class ConsulDeployStateStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, app: str) -> str:
        return self.kv.key("deploys", app)

    def get(self, app: str) -> tuple[dict, int]:
        entry = self.kv.get(self._key(app))
        return (entry.value, entry.index) if entry else ({}, 0)

    def put(self, app: str, state: dict, index: int) -> None:
        try:
            self.kv.txn([Op.cas(self._key(app), state, index)])
        except TxnFailed:
            raise ConcurrentUpdate(f"Deploy state of {app} changed concurrently") from None

    def remove(self, app: str) -> None:
        self.kv.txn([Op.delete(self._key(app))])
