"""CertPublisher on Traefik's file provider directory, scoped to one platform (its KV prefix):
a platform publishes, withdraws and syncs only its own certificates, even when several
platforms share the directory."""

from __future__ import annotations

from pathlib import Path

from . import certs, files


class FileCertPublisher:
    def __init__(self, router_dir: Path, platform: str = files.DEFAULT_PLATFORM):
        self.router_dir = router_dir
        self.platform = platform

    def inspect(self, cert: str, key: str, hosts: list[str]) -> dict:
        return certs.validate(cert, key, hosts=hosts).to_dict()

    def publish(self, app: str, cert: str, key: str) -> None:
        files.write_certificate(self.router_dir, app, cert, key, platform=self.platform)

    def withdraw(self, app: str) -> None:
        files.remove_certificate(self.router_dir, app, platform=self.platform)

    def sync(self, certificates: dict[str, tuple[str, str]]) -> None:
        files.sync_certificates(self.router_dir, certificates, platform=self.platform)
