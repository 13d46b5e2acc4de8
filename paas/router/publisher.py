"""CertPublisher on Traefik's file provider directory."""

from __future__ import annotations

from pathlib import Path

from . import certs, files


class FileCertPublisher:
    def __init__(self, router_dir: Path):
        self.router_dir = router_dir

    def inspect(self, cert: str, key: str, hosts: list[str]) -> dict:
        return certs.validate(cert, key, hosts=hosts).to_dict()

    def publish(self, app: str, cert: str, key: str) -> None:
        files.write_certificate(self.router_dir, app, cert, key)

    def withdraw(self, app: str) -> None:
        files.remove_certificate(self.router_dir, app)

    def sync(self, certificates: dict[str, tuple[str, str]]) -> None:
        files.sync_certificates(self.router_dir, certificates)
