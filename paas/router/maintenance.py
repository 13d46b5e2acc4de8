"""MaintenanceRouter on Traefik's file provider directory: one file per app in maintenance,
whose routers take the app's hosts ahead of its own routes and send them to the controller's
page (files.maintenance_route). Scoped to one platform, like the certificates."""

from __future__ import annotations

from pathlib import Path

from . import files


class FileMaintenanceRouter:
    def __init__(self, router_dir: Path, controller_urls: list[str], platform: str = files.DEFAULT_PLATFORM):
        self.router_dir = router_dir
        self.controller_urls = controller_urls
        self.platform = platform

    def divert(self, app: str, hosts: list[str]) -> None:
        files.write_maintenance_route(self.router_dir, app, hosts, self.controller_urls, platform=self.platform)

    def restore(self, app: str) -> None:
        files.remove_maintenance_route(self.router_dir, app, platform=self.platform)

    def sync(self, diverted: dict[str, list[str]]) -> None:
        files.sync_maintenance_routes(self.router_dir, diverted, self.controller_urls, platform=self.platform)
