"""Apps: create (with release v1, as Deis does), list, look up with access checks, destroy."""

from __future__ import annotations

import secrets

from paas.domain.apps import APP_NAME_RE, App, validate_app_name
from paas.domain.clock import now_iso
from paas.domain.errors import Conflict, NotFound, PermissionDenied
from paas.domain.formation import Formation
from paas.domain.ports import AppStore
from paas.domain.releases import Release
from paas.domain.users import User

from .retry import retry_on_conflict

_WORDS = ("amber", "brisk", "calm", "dusty", "eager", "fancy", "gentle", "hidden", "icy", "jolly", "lucky",
          "misty", "noble", "proud", "quiet", "rapid", "silent", "tidy", "vivid", "wild")
_THINGS = ("river", "comet", "forest", "harbor", "meadow", "falcon", "canyon", "glacier", "island", "lantern",
           "maple", "otter", "pine", "quartz", "reef", "summit", "tundra", "valley", "willow", "zephyr")


def generate_app_name() -> str:
    return f"{secrets.choice(_WORDS)}-{secrets.choice(_THINGS)}-{secrets.randbelow(9000) + 1000}"


def can_see(user: User, app: App) -> bool:
    return user.is_admin or app.role_of(user.username) is not None


class AppService:
    def __init__(self, apps: AppStore):
        self.apps = apps

    def create(self, actor: User, name: str | None = None) -> App:
        app_name = validate_app_name(name) if name else generate_app_name()
        created_at = now_iso()
        app = App(name=app_name, owner=actor.username, created_at=created_at)
        first = Release(
            app=app_name,
            version=1,
            summary=f"{actor.username} created initial release",
            created_by=actor.username,
            created_at=created_at,
        )
        self.apps.create(app, first, Formation(app=app_name))
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

    def destroy(self, actor: User, name: str) -> None:
        def attempt() -> None:
            app, index = self.get_with_index(actor, name)
            self.require_manager(actor, app)
            self.apps.destroy(app, index)

        retry_on_conflict(attempt)

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
