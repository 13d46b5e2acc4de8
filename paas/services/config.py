"""Config vars: every change is a new release with a full snapshot."""

from __future__ import annotations

from paas.domain import config as config_rules
from paas.domain.apps import App
from paas.domain.releases import Release
from paas.domain.users import User

from .apps import may_read_config
from .releases import ReleaseService


class ConfigService:
    def __init__(self, releases: ReleaseService):
        self.releases = releases

    @staticmethod
    def may_read(actor: User, app: App) -> bool:
        """Who may read config values (also in release history and diffs): whoever may use the app."""
        return may_read_config(actor, app)

    def get(self, app: str) -> dict[str, str]:
        return dict(self.releases.current(app).config)

    def change(self, app: str, actor: User, changes: dict[str, str | None]) -> Release | None:
        """Set (str) and unset (None) vars; None when the config would not change."""

        def next_release(current: Release) -> dict | None:
            new_config = config_rules.apply_changes(current.config, changes)
            if new_config == current.config:
                return None
            return {
                "summary": f"{actor.username} {config_rules.describe_changes(changes)}",
                "config": new_config,
            }

        return self.releases.create(app, actor, next_release)
