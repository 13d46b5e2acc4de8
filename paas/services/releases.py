"""Releases: allocate the next version with CAS, list pages, roll back (as a new release)."""

from __future__ import annotations

from collections.abc import Callable

from paas.domain.apps import App
from paas.domain.clock import now_iso
from paas.domain.errors import NotFound, ValidationError
from paas.domain.ports import BuildStore, DeployStateStore, FormationStore, ReleaseStore
from paas.domain.release_diff import ReleaseDiff, diff_releases
from paas.domain.releases import Release
from paas.domain.users import User

from .apps import can_see, may_read_config
from .pagination import Page
from .plans import declared
from .retry import retry_on_conflict

# Given the current release, return the next one's changes (as Release.successor kwargs plus
# "summary"), or None when nothing changes.
NextRelease = Callable[[Release], dict | None]


class ReleaseService:
    """Current means live: the release that serves. New releases (config, limits, rollback)
    build on the newest release that has not failed, never below the live one; a release whose
    deploy failed stays visible as failed beside it."""

    def __init__(self, releases: ReleaseStore, states: DeployStateStore, builds: BuildStore | None = None,
                 formations: FormationStore | None = None):
        """builds: where a diff finds what each release's build declares in app.json (without
        it, diffs leave health checks out). formations: each new release records the app's
        formation then (without it, diffs cannot show scale and limit changes)."""
        self.releases = releases
        self.states = states
        self.builds = builds
        self.formations = formations

    def live_version(self, app: str) -> int | None:
        return self.states.get(app)[0].live_release

    def current(self, app: str) -> Release:
        """What new releases build on: the newest release above the live one that has not
        failed (a deploy in flight), else the live one; with nothing live yet, the newest
        (so config:set can fix a first deploy that failed for want of a setting)."""
        head, _ = self.releases.head(app)
        return self._base(app, head)

    def _base(self, app: str, head: int) -> Release:
        live = self.live_version(app)
        if live is not None:
            for version in range(head, live, -1):
                release = self.releases.get(app, version)
                if release is not None and not release.failed:
                    return release
            head = live
        release = self.releases.get(app, head)
        if release is None:
            raise NotFound(f"Release v{head} of {app} not found")
        return release

    def create(self, app: str, actor: User, next_release: NextRelease) -> Release | None:
        """Append a release computed from the latest one. The CAS on the version counter
        makes concurrent writers retry on the newest state: no shared, skipped or lost versions."""

        def attempt() -> Release | None:
            version, index = self.releases.head(app)
            current = self._base(app, version)
            changes = next_release(current)
            if changes is None:
                return None
            # Numbered after the head, whichever release it builds on.
            formation = self.formations.get(app)[0].describe() if self.formations else None
            release = current.successor(created_by=actor.username, created_at=now_iso(),
                                        **{"formation": formation, **changes, "version": version + 1})
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
        """app -> its live release (the newest release while nothing is live yet)."""
        heads = self.releases.heads(apps) if apps else {}
        return {app: live if (live := self.live_version(app)) is not None else head for app, head in heads.items()}

    def get(self, app: str, version: int) -> Release:
        release = self.releases.get(app, version)
        if release is None:
            raise NotFound(f"Release v{version} of {app} not found")
        return release

    def diff(self, app: App, actor: User, version: int, to: int | None = None,
             show_values: bool = False) -> ReleaseDiff:
        """What changed. With `to` None: what release `version` changed, against the release before
        it (v1 against nothing), as `git show` does for a commit; else from `version` to `to`.
        Who may read releases may read a diff; config values only when asked for and the actor
        may read config, otherwise masked in the domain."""
        if not can_see(actor, app):
            # As AppService.get answers: someone else's app is a missing app.
            raise NotFound(f"App {app.name!r} not found")
        if to is None:
            after = self.get(app.name, version)
            before = self.get(app.name, version - 1) if version > 1 else None
        else:
            before, after = self.get(app.name, version), self.get(app.name, to)
        checks = (lambda release: declared(self.builds, app.name, release)) if self.builds else (lambda _: None)
        return diff_releases(before, after, show_values=show_values and may_read_config(actor, app),
                             before_checks=checks(before), after_checks=checks(after))

    def rollback(self, app: str, actor: User, version: int | None = None) -> Release:
        def next_release(current: Release) -> dict:
            target_version = self._previous_good(app) if version is None else version
            head, _ = self.releases.head(app)
            if target_version is None or target_version < 1:
                raise ValidationError(f"{app} has no earlier release that deployed to roll back to")
            if target_version > head:
                raise ValidationError(f"Cannot roll back to v{target_version}: the newest release is v{head}")
            if target_version == self.live_version(app):
                raise ValidationError(f"v{target_version} is the live release of {app} already")
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

    def _previous_good(self, app: str) -> int | None:
        """The newest release before the live one (before the newest one while nothing is
        live yet) that has a build and did not fail."""
        reference = self.live_version(app)
        if reference is None:
            reference, _ = self.releases.head(app)
        for version in range(reference - 1, 0, -1):
            release = self.releases.get(app, version)
            if release is not None and release.image and not release.failed:
                return version
        return None
