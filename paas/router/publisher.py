"""CertPublisher on Traefik's file provider directory."""

from __future__ import annotations

from pathlib import Path

from . import files


class FileCertPublisher:
    def __init__(self, router_dir: Path):
        self.router_dir = router_dir

    def publish(self, app: str, cert: str, key: str) -> None:
        files.write_certificate(self.router_dir, app, cert, key)

    def withdraw(self, app: str) -> None:
        files.remove_certificate(self.router_dir, app)

    def sync(self, certificates: dict[str, tuple[str, str]]) -> None:
        files.sync_certificates(self.router_dir, certificates)
