"""Releases: allocate the next version with CAS, list pages, roll back (as a new release)."""

from __future__ import annotations

from collections.abc import Callable

from paas.domain.clock import now_iso
from paas.domain.errors import NotFound, ValidationError
from paas.domain.ports import ReleaseStore
from paas.domain.releases import Release
from paas.domain.users import User

from .pagination import Page
from .retry import retry_on_conflict

# Given the current release, return the next one's changes (as Release.successor kwargs plus
# "summary"), or None when nothing changes.
NextRelease = Callable[[Release], dict | None]


class ReleaseService:
    def __init__(self, releases: ReleaseStore):
        self.releases = releases

    def current(self, app: str) -> Release:
        version, _ = self.releases.head(app)
        release = self.releases.get(app, version)
        if release is None:
            raise NotFound(f"Release v{version} of {app} not found")
        return release

    def create(self, app: str, actor: User, next_release: NextRelease) -> Release | None:
        """Append a release computed from the latest one. The CAS on the version counter
        makes concurrent writers retry on the newest state: no shared, skipped or lost versions."""

        def attempt() -> Release | None:
            version, index = self.releases.head(app)
            current = self.releases.get(app, version)
            if current is None:
                raise NotFound(f"Release v{version} of {app} not found")
            changes = next_release(current)
            if changes is None:
                return None
            release = current.successor(created_by=actor.username, created_at=now_iso(), **changes)
            self.releases.append(release, index)
            return release

        return retry_on_conflict(attempt)

    def page(self, app: str, page: int, per_page: int) -> Page[Release]:
        """Newest first. Versions are contiguous, so a page is computed, not searched."""
        latest, _ = self.releases.head(app)
        top = latest - (page - 1) * per_page
        versions = list(range(top, max(top - per_page, 0), -1))
        results = self.releases.get_many(app, versions) if versions else []
        return Page(count=latest, page=page, per_page=per_page, results=results)

    def current_versions(self, apps: list[str]) -> dict[str, int]:
        return self.releases.heads(apps) if apps else {}

    def get(self, app: str, version: int) -> Release:
        release = self.releases.get(app, version)
        if release is None:
            raise NotFound(f"Release v{version} of {app} not found")
        return release

    def rollback(self, app: str, actor: User, version: int | None = None) -> Release:
        def next_release(current: Release) -> dict:
            target_version = current.version - 1 if version is None else version
            if target_version < 1:
                raise ValidationError(f"{app} has no release before v{current.version} to roll back to")
            if target_version >= current.version:
                raise ValidationError(
                    f"Cannot roll back to v{target_version}: the current release is v{current.version}"
                )
            target = self.get(app, target_version)
            if not target.image:
                # A release without a build has nothing to run: deploying it can never succeed,
                # and every later config change would inherit the missing image.
                raise ValidationError(
                    f"Cannot roll back to v{target.version}: it has no build (config only); "
                    "roll back to a release that has a build"
                )
            return {
                "summary": f"{actor.username} rolled back to v{target.version}",
                "config": dict(target.config),
                "build_id": target.build_id,
                "image": target.image,
                "procfile": dict(target.procfile),
                "git_sha": target.git_sha,
            }

        release = self.create(app, actor, next_release)
        assert release is not None
        return release
