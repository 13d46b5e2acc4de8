"""Formation: desired quantities per process type. Scaling makes no new release."""

from __future__ import annotations

from paas.domain.appjson import AppJson
from paas.domain.errors import ValidationError
from paas.domain.formation import Formation
from paas.domain.ports import BuildStore, FormationStore

from .plans import app_json_overrides, declared
from .releases import ReleaseService
from .retry import retry_on_conflict


class FormationService:
    def __init__(self, formations: FormationStore, releases: ReleaseService, builds: BuildStore | None = None):
        """builds: where the app.json of the current release's build is read (declared())."""
        self.formations = formations
        self.releases = releases
        self.builds = builds

    def get(self, app: str) -> Formation:
        return self.formations.get(app)[0]

    def scale(self, app: str, quantities: dict[str, int]) -> Formation:
        return self.change(app, quantities=quantities)

    def change(self, app: str, quantities: dict[str, int] | None = None, limits: dict | None = None,
               healthchecks: dict | None = None, update: dict | None = None) -> Formation:
        """One CAS write for any mix of changes; limits or health checks roll fresh instances."""
        if not (quantities or limits or healthchecks or update):
            raise ValidationError("Nothing to change: give quantities, limits, healthchecks or update")

        def attempt() -> Formation:
            formation, index = self.formations.get(app)
            available = set(self.releases.current(app).procfile)
            if limits and not available:
                raise ValidationError("The app has no build yet: deploy code first")
            if quantities:
                formation = formation.scaled(quantities, available)
            if limits:
                formation = formation.with_limits(limits, available)
            if healthchecks:
                formation = formation.with_healthchecks(healthchecks, available)
            if update:
                formation = formation.with_update_policy(update)
            self.formations.update(formation, index)
            return formation

        return retry_on_conflict(attempt)

    def follow_process_types(self, app: str, types: set[str]) -> Formation:
        def attempt() -> Formation:
            formation, index = self.formations.get(app)
            updated = formation.for_process_types(types)
            if updated != formation:
                self.formations.update(updated, index)
            return updated

        return retry_on_conflict(attempt)

    def declared(self, app: str) -> AppJson | None:
        """What the current release's build declares in its app.json (None: nothing)."""
        return declared(self.builds, app, self.releases.current(app)) if self.builds else None

    def app_json_notes(self, app: str, app_json: AppJson | None) -> list[str]:
        """Push-output lines: what a new build's app.json declares and what of it this app's own
        settings override (they win)."""
        if not app_json:
            return []
        formation = self.get(app)
        described = app_json.describe()
        lines = [f"-----> app.json: {', '.join(described)}"] if described else []
        return lines + [f"       note: {line}" for line in app_json_overrides(formation, app_json)]
