"""Formations (desired process quantities and limits) in Consul KV."""

from __future__ import annotations

from paas.domain.errors import ConcurrentUpdate
from paas.domain.formation import Formation

from .kv import ConsulKV, Op, TxnFailed


class ConsulFormationStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def get(self, app: str) -> tuple[Formation, int]:
        entry = self.kv.get(self.kv.key("formation", app))
        if entry is None:
            return Formation(app=app), 0
        return Formation.from_dict(entry.value), entry.index

    def update(self, formation: Formation, index: int) -> None:
        try:
            self.kv.txn([Op.cas(self.kv.key("formation", formation.app), formation.to_dict(), index),
                         self.kv.changed(formation.app)])
        except TxnFailed:
            raise ConcurrentUpdate(f"The formation of {formation.app!r} changed concurrently") from None
