"""Release diffs: what changed from one release to another.

A release records its config, its build (id, image, git sha), its Procfile and the formation it
was made under (quantities, limits, health checks and update settings the owner set: ps:scale,
limits:set and healthchecks:set change those without making a release, so the next release shows
them); its build also carries what the code's app.json declares (health checks, update settings).
Those are what a diff compares. Releases made before they recorded the formation say so.

Config values are masked here, by a flag, so that no caller can hand out a value by forgetting
to mask it later: a diff is built masked unless `show_values` is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from .appjson import AppJson
from .releases import MASK, Release

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
ChangeKind = Literal["added", "removed", "changed"]
SHORT_SHA = 7
# What a release made before formation snapshots does not record (said in its diffs, not guessed).
NOT_RECORDED = ("formation", "limits")


@dataclass(frozen=True)
class Change:
    """One named entry (a config key, a process type, a check) that differs. `before` is None when
    it was added and `after` is None when it was removed."""

    name: str
    kind: ChangeKind
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class BuildChange:
    """The build each release runs, when they differ. commit_range is git's `old..new` (the
    commits the newer build brings) when both builds came from git pushes of different commits."""

    before_build: str | None
    after_build: str | None
    before_image: str | None
    after_image: str | None
    before_git_sha: str | None
    after_git_sha: str | None

    @property
    def commit_range(self) -> str | None:
        before, after = self.before_git_sha, self.after_git_sha
        if not before or not after or before == after:
            return None
        return f"{before[:SHORT_SHA]}..{after[:SHORT_SHA]}"

    def to_dict(self) -> dict:
        return {**asdict(self), "commit_range": self.commit_range}


@dataclass(frozen=True)
class ReleaseDiff:
    """From `before` (None: the diff of v1, against nothing) to `after`. `values_shown` says
    whether config values are real or MASK."""

    app: str
    from_version: int | None
    to_version: int
    values_shown: bool
    config: tuple[Change, ...] = ()
    build: BuildChange | None = None
    procfile: tuple[Change, ...] = ()
    healthchecks: tuple[Change, ...] = ()
    formation: tuple[Change, ...] = ()
    not_recorded: tuple[str, ...] = field(default=NOT_RECORDED)

    @property
    def empty(self) -> bool:
        return not (self.config or self.build or self.procfile or self.healthchecks or self.formation)

    def to_dict(self) -> dict:
        return {
            "app": self.app,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "values_shown": self.values_shown,
            "config": [asdict(c) for c in self.config],
            "build": self.build.to_dict() if self.build else None,
            "procfile": [asdict(c) for c in self.procfile],
            "healthchecks": [asdict(c) for c in self.healthchecks],
            "formation": [asdict(c) for c in self.formation],
            "not_recorded": list(self.not_recorded),
        }


def diff_releases(
    before: Release | None,
    after: Release,
    *,
    show_values: bool = False,
    before_checks: AppJson | None = None,
    after_checks: AppJson | None = None,
) -> ReleaseDiff:
    """What changed from `before` to `after` (either order: a diff of v7 to v3 shows what v3
    has that v7 has not). before_checks/after_checks: the app.json of each release's build.
    Config values are MASK unless show_values: the caller decides who may see them."""
    reveal = (lambda value: value) if show_values else (lambda value: None if value is None else MASK)
    # v1 has no predecessor to differ from; otherwise both sides must have recorded a formation.
    recorded = after.formation is not None and (before is None or before.formation is not None)
    config = tuple(
        Change(c.name, c.kind, reveal(c.before), reveal(c.after))
        for c in diff_mappings(before.config if before else {}, after.config)
    )
    return ReleaseDiff(
        app=after.app,
        from_version=before.version if before else None,
        to_version=after.version,
        values_shown=show_values,
        config=config,
        build=_build_change(before, after),
        procfile=diff_mappings(before.procfile if before else {}, after.procfile),
        healthchecks=_checks_change(before_checks, after_checks),
        formation=diff_mappings((before.formation or {}) if before else {}, after.formation or {})
        if recorded else (),
        not_recorded=() if recorded else NOT_RECORDED,
    )


def diff_mappings(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[Change, ...]:
    """Added, removed and changed entries, sorted by name."""
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append(Change(name, ADDED, None, after[name]))
        elif name not in after:
            changes.append(Change(name, REMOVED, before[name], None))
        elif before[name] != after[name]:
            changes.append(Change(name, CHANGED, before[name], after[name]))
    return tuple(changes)


def _build_change(before: Release | None, after: Release) -> BuildChange | None:
    old = (before.build_id, before.image, before.git_sha) if before else (None, None, None)
    new = (after.build_id, after.image, after.git_sha)
    if old == new:
        return None
    return BuildChange(before_build=old[0], after_build=new[0], before_image=old[1], after_image=new[1],
                       before_git_sha=old[2], after_git_sha=new[2])


def _describe_checks(declared: AppJson | None) -> dict[str, str]:
    """app.json's declarations as comparable strings: `web` -> 'HTTP GET /health' (or 'no HTTP
    check' for a type listed without a path), update settings as `update.<field>` (a dot is never
    in a process type's name, so the two cannot collide)."""
    if not declared:
        return {}
    described = {name: f"HTTP GET {path}" if path else "no HTTP check"
                 for name, path in declared.healthchecks.items()}
    described.update({f"update.{key}": _seconds_or_count(value) for key, value in declared.update.items()})
    return described


def _checks_change(before: AppJson | None, after: AppJson | None) -> tuple[Change, ...]:
    return diff_mappings(_describe_checks(before), _describe_checks(after))


def _seconds_or_count(value: float | int) -> str:
    # As app.json's own description shows them: durations are floats, counts are ints.
    return f"{value:g}s" if isinstance(value, float) else str(value)
