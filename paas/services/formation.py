"""Formation: desired quantities per process type. Scaling makes no new release."""

from __future__ import annotations

from paas.domain.formation import Formation
from paas.domain.ports import FormationStore

from .releases import ReleaseService
from .retry import retry_on_conflict


class FormationService:
    def __init__(self, formations: FormationStore, releases: ReleaseService):
        self.formations = formations
        self.releases = releases

    def get(self, app: str) -> Formation:
        return self.formations.get(app)[0]

    def scale(self, app: str, quantities: dict[str, int]) -> Formation:
        def attempt() -> Formation:
            formation, index = self.formations.get(app)
            available = set(self.releases.current(app).procfile)
            scaled = formation.scaled(quantities, available)
            self.formations.update(scaled, index)
            return scaled

        return retry_on_conflict(attempt)

    def follow_process_types(self, app: str, types: set[str]) -> Formation:
        def attempt() -> Formation:
            formation, index = self.formations.get(app)
            updated = formation.for_process_types(types)
            if updated != formation:
                self.formations.update(updated, index)
            return updated

        return retry_on_conflict(attempt)
