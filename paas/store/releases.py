"""Releases in Consul KV: a CAS-guarded version counter plus one key per version."""

from __future__ import annotations

from paas.domain.errors import ConcurrentUpdate, NotFound
from paas.domain.releases import Release

from .kv import ConsulKV, Op, TxnFailed


def release_key(kv: ConsulKV, app: str, version: int) -> str:
    # Zero-padded so keys sort in version order.
    return kv.key("releases", app, "v", f"{version:010d}")


# A failure's whole explanation (reason, check result, the instance's last 20 lines).
MAX_FAILURE_REASON = 8000


class ConsulReleaseStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def head(self, app: str) -> tuple[int, int]:
        entry = self.kv.get(self.kv.key("releases", app, "head"))
        if entry is None:
            raise NotFound(f"App {app!r} has no releases")
        return int(entry.value), entry.index

    def get(self, app: str, version: int) -> Release | None:
        entry = self.kv.get(release_key(self.kv, app, version))
        return Release.from_dict(entry.value) if entry else None

    def get_many(self, app: str, versions: list[int]) -> list[Release]:
        try:
            entries = self.kv.get_many([release_key(self.kv, app, v) for v in versions])
        except TxnFailed:
            raise NotFound(f"Releases of {app!r} changed while reading them") from None
        return [Release.from_dict(e.value) for e in entries]

    def heads(self, apps: list[str]) -> dict[str, int]:
        """Latest version of each app, in one round trip per 64 apps; apps destroyed meanwhile are left out."""
        keys = [self.kv.key("releases", app, "head") for app in apps]
        try:
            entries = self.kv.get_many(keys)
        except TxnFailed:
            entries = [e for e in (self.kv.get(k) for k in keys) if e is not None]
        return {e.key.split("/")[-2]: int(e.value) for e in entries}

    def append(self, release: Release, head_index: int) -> None:
        try:
            self.kv.txn([
                Op.cas(self.kv.key("releases", release.app, "head"), release.version, head_index),
                Op.create(release_key(self.kv, release.app, release.version), release.to_dict()),
                self.kv.changed(release.app),
            ])
        except TxnFailed:
            raise ConcurrentUpdate(f"Another release of {release.app!r} was created concurrently") from None

    def mark_failed(self, app: str, version: int, reason: str) -> None:
        """The one mutation of a release: its deploy failed (CAS, so a concurrent mark is not lost)."""
        key = release_key(self.kv, app, version)
        for _ in range(10):
            entry = self.kv.get(key)
            if entry is None:
                return
            try:
                self.kv.txn([Op.cas(key, {**entry.value, "failed": True, "failure_reason": reason[:MAX_FAILURE_REASON]},
                                    entry.index), self.kv.changed(app)])
                return
            except TxnFailed:
                continue
