"""Deploy state per app in Consul KV: one DeployState (domain/deployments.py) at deploys/<app>."""

from __future__ import annotations

from paas.domain.deployments import DeployState
from paas.domain.errors import ConcurrentUpdate

from .kv import ConsulKV, Entry, Op, TxnFailed


class ConsulDeployStateStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, app: str) -> str:
        return self.kv.key("deploys", app)

    def get(self, app: str) -> tuple[DeployState, int]:
        return _state(self.kv.get(self._key(app)))

    def put(self, app: str, state: DeployState, index: int) -> None:
        try:
            self.kv.txn([Op.cas(self._key(app), state.to_dict(), index)])
        except TxnFailed:
            raise ConcurrentUpdate(f"Deploy state of {app} changed concurrently") from None

    def watch(self, app: str, index: int, timeout: float) -> tuple[DeployState, int]:
        return _state(self.kv.watch(self._key(app), index, timeout))

    def remove(self, app: str) -> None:
        self.kv.txn([Op.delete(self._key(app))])


def _state(entry: Entry | None) -> tuple[DeployState, int]:
    if entry is None or not isinstance(entry.value, dict):
        return DeployState(), 0
    return DeployState.from_dict(entry.value), entry.index
