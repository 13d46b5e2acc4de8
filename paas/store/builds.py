"""Build records in Consul KV."""

from __future__ import annotations

from paas.domain.builds import Build

from .kv import ConsulKV, Op


class ConsulBuildStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def add(self, build: Build) -> None:
        self.kv.txn([Op.set(self.kv.key("builds", build.app, build.id), build.to_dict())])

    def get(self, app: str, build_id: str) -> Build | None:
        entry = self.kv.get(self.kv.key("builds", app, build_id))
        return Build.from_dict(entry.value) if entry else None

    def list(self, app: str) -> list[Build]:
        builds = [Build.from_dict(e.value) for e in self.kv.tree(self.kv.key("builds", app) + "/")]
        return sorted(builds, key=lambda b: b.created_at, reverse=True)
