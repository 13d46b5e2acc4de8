"""Apps: create (with release v1, as Deis does), list, look up with access checks, destroy.

Destroy removes everything of the app, resumably: one transaction deletes the app record and
its KV trees and leaves a tombstone (`destroying/<app>`); then every per-app resource outside
the store is removed (instances and network, router certificate, git repo, build cache, logs,
images, registry manifests), each step idempotent; last, the leftover keys and the tombstone
go. A crash half way leaves the tombstone: `destroy` again (the owner or an admin), the
supervisor's sweep (`finish_pending_destroys`) or an `apps:create` of the same name finishes
it, so a re-created name always starts empty. Every app also has a random id, fixed at
creation: the gateway keeps it in the bare repo and starts the repo afresh when they differ,
so a new app never sees a destroyed one's history even where the controller cannot reach the
gateway's disk.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Protocol

from paas.domain.apps import APP_NAME_RE, App, validate_app_name
from paas.domain.clock import now_iso
from paas.domain.errors import Conflict, NotFound, PaasError, PermissionDenied
from paas.domain.formation import Formation
from paas.domain.ports import AppStore
from paas.domain.releases import Release
from paas.domain.users import User

from .retry import retry_on_conflict

log = logging.getLogger(__name__)

_WORDS = ("amber", "brisk", "calm", "dusty", "eager", "fancy", "gentle", "hidden", "icy", "jolly", "lucky",
          "misty", "noble", "proud", "quiet", "rapid", "silent", "tidy", "vivid", "wild")
_THINGS = ("river", "comet", "forest", "harbor", "meadow", "falcon", "canyon", "glacier", "island", "lantern",
           "maple", "otter", "pine", "quartz", "reef", "summit", "tundra", "valley", "willow", "zephyr")


def generate_app_name() -> str:
    return f"{secrets.choice(_WORDS)}-{secrets.choice(_THINGS)}-{secrets.randbelow(9000) + 1000}"


def can_see(user: User, app: App) -> bool:
    return user.is_admin or app.role_of(user.username) is not None


def may_read_config(user: User, app: App) -> bool:
    """Who may read config values (the config API, and values in release history and diffs):
    whoever may use the app. One place, so every view of values asks the same question."""
    return can_see(user, app)


def new_app_id() -> str:
    return secrets.token_hex(16)


class AppRecords(AppStore, Protocol):
    """The AppStore with what destroy and app ids need (store/apps.py)."""

    def create(self, app: App, first_release: Release, formation: Formation, app_id: str = "") -> None: ...
    def destroy(self, app: App, index: int, tombstone: dict | None = None) -> None: ...
    def tombstone(self, name: str) -> tuple[dict, int] | None: ...
    def tombstones(self) -> list[str]: ...
    def purge(self, name: str, tombstone_index: int) -> bool: ...
    def app_id(self, name: str, new_id: str) -> str: ...


# Removes one kind of per-app resource outside the store (idempotent: gone already is fine).
AppResource = Callable[[str], None]
# Removes the app's git repo where the controller can: (app, app id); only a repo with that id.
RepoRemover = Callable[[str, str], None]


class AppService:
    def __init__(self, apps: AppRecords, resources: Sequence[AppResource] = (), repos: RepoRemover | None = None):
        self.apps = apps
        # In order: instances first (nothing serves or writes), then the router's certificate,
        # the builder's cache, logs, images and registry manifests.
        self.resources = tuple(resources)
        self.repos = repos

    def create(self, actor: User, name: str | None = None) -> App:
        app_name = validate_app_name(name) if name else generate_app_name()
        if self.apps.tombstone(app_name):
            # A destroy of this name did not finish (crash): finish it, so the name starts empty.
            try:
                self.finish_destroy(app_name)
            except PaasError:
                raise Conflict(f"App {app_name!r} is still being destroyed: try again in a moment") from None
        created_at = now_iso()
        app = App(name=app_name, owner=actor.username, created_at=created_at)
        first = Release(
            app=app_name,
            version=1,
            summary=f"{actor.username} created initial release",
            created_by=actor.username,
            created_at=created_at,
            formation=Formation(app=app_name).describe(),
        )
        self.apps.create(app, first, Formation(app=app_name), new_app_id())
        return app

    def visible(self, actor: User) -> list[App]:
        return sorted((a for a in self.apps.list() if can_see(actor, a)), key=lambda a: a.name)

    def find(self, name: str) -> App | None:
        """The app, whoever owns it (for trusted callers such as the gateway)."""
        found = self.apps.get(name) if isinstance(name, str) and APP_NAME_RE.match(name) else None
        return found[0] if found else None

    def get(self, actor: User, name: str) -> App:
        return self.get_with_index(actor, name)[0]

    def get_with_index(self, actor: User, name: str) -> tuple[App, int]:
        found = self.apps.get(name) if isinstance(name, str) and APP_NAME_RE.match(name) else None
        # Someone else's app answers exactly like a missing one: names are not disclosed.
        if found is None or not can_see(actor, found[0]):
            raise NotFound(f"App {str(name)[:64]!r} not found")
        return found

    def require_manager(self, actor: User, app: App) -> None:
        """Owners and admins manage membership and destroy apps; collaborators deploy."""
        if not (actor.is_admin or app.owner == actor.username):
            raise PermissionDenied(f"Only the owner of {app.name} or an admin can do this")

    def app_id(self, name: str) -> str | None:
        """The app's random id (apps created before ids existed get one now); None if no app."""
        if self.find(name) is None:
            return None
        return self.apps.app_id(name, new_app_id())

    def destroy(self, actor: User, name: str) -> None:
        """Destroy the app and everything it has (owner or admin). Idempotent and resumable: on a
        name whose destroy was interrupted, the owner or an admin finishes it."""
        def attempt() -> None:
            found = self.apps.get(name) if isinstance(name, str) and APP_NAME_RE.match(name) else None
            if found is None or not can_see(actor, found[0]):
                pending = self.apps.tombstone(name) if found is None and isinstance(name, str) \
                    and APP_NAME_RE.match(name) else None
                if pending is None or not (actor.is_admin or pending[0].get("owner") == actor.username):
                    raise NotFound(f"App {str(name)[:64]!r} not found")
                return
            app, index = found
            self.require_manager(actor, app)
            app_id = self.apps.app_id(app.name, new_app_id())
            self.apps.destroy(app, index, {"app": app.name, "id": app_id, "owner": app.owner,
                                           "destroyed_by": actor.username, "destroyed_at": now_iso()})

        retry_on_conflict(attempt)
        self.finish_destroy(name)

    def finish_destroy(self, name: str) -> None:
        """Remove every resource of a destroyed app, then its tombstone. Each resource is tried
        even when one fails (the first failure is raised after, and the tombstone stays)."""
        pending = self.apps.tombstone(name)
        if pending is None:
            return
        failure: Exception | None = None
        steps = list(self.resources)
        if self.repos is not None and pending[0].get("id"):
            repos, app_id = self.repos, str(pending[0]["id"])
            steps.append(lambda app: repos(app, app_id))
        for remove in steps:
            if self.apps.tombstone(name) is None:
                return  # finished by another controller meanwhile; the name may be in use again
            try:
                remove(name)
            except (PaasError, OSError) as exc:
                log.warning("destroy %s: %s failed: %s", name, getattr(remove, "__qualname__", remove), exc)
                failure = failure or exc
        if failure is not None:
            raise failure
        self.apps.purge(name, pending[1])

    def finish_pending_destroys(self) -> list[str]:
        """Finish every interrupted destroy (the supervisor's sweep); the names finished."""
        done = []
        for name in self.apps.tombstones():
            try:
                self.finish_destroy(name)
                done.append(name)
            except (PaasError, OSError) as exc:
                log.warning("destroy %s: not finished yet: %s", name, exc)
        return done

    def grant(self, actor: User, name: str, username: str, user_exists: bool) -> None:
        def attempt() -> None:
            app, index = self.get_with_index(actor, name)
            self.require_manager(actor, app)
            if not user_exists:
                raise NotFound(f"User {username[:40]!r} not found")
            if app.role_of(username):
                raise Conflict(f"{username} already has access to {app.name}")
            app.members = sorted({*app.members, username})
            self.apps.update(app, index)

        retry_on_conflict(attempt)

    def revoke(self, actor: User, name: str, username: str) -> None:
        def attempt() -> None:
            app, index = self.get_with_index(actor, name)
            self.require_manager(actor, app)
            if username not in app.members:
                raise NotFound(f"{username[:40]} is not a collaborator on {app.name}")
            app.members = [m for m in app.members if m != username]
            self.apps.update(app, index)

        retry_on_conflict(attempt)
