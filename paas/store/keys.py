"""SSH public keys in Consul KV, keyed by fingerprint so a key belongs to one user only."""

from __future__ import annotations

from paas.domain.errors import Conflict
from paas.domain.keys import SshKey, fingerprint_id

from .kv import ConsulKV, Op, TxnFailed


class ConsulKeyStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def add(self, key: SshKey) -> None:
        try:
            self.kv.txn([Op.create(self.kv.key("keys", key.fingerprint_id), key.to_dict())])
        except TxnFailed:
            raise Conflict(f"This SSH key ({key.fingerprint}) is already registered") from None

    def list_for(self, username: str) -> list[SshKey]:
        keys = [SshKey.from_dict(e.value) for e in self.kv.tree(self.kv.key("keys") + "/")]
        return sorted((k for k in keys if k.username == username), key=lambda k: k.name)

    def remove(self, key: SshKey) -> None:
        self.kv.txn([Op.delete(self.kv.key("keys", key.fingerprint_id))])

    def by_fingerprint(self, fingerprint: str) -> SshKey | None:
        entry = self.kv.get(self.kv.key("keys", fingerprint_id(fingerprint)))
        return SshKey.from_dict(entry.value) if entry else None
