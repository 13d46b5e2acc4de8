"""Releases: immutable, numbered (build, config) pairs. A rollback is a new release."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import ValidationError
from .patterns import full

VERSION_PATTERN = r"^[vV]?([1-9][0-9]{0,8})$"
VERSION_RE = full(VERSION_PATTERN)
MASK = "*****"


@dataclass
class Release:
    app: str
    version: int
    summary: str
    created_by: str
    created_at: str
    config: dict[str, str] = field(default_factory=dict)
    build_id: str | None = None
    image: str | None = None
    procfile: dict[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    failed: bool = False
    failure_reason: str | None = None
    # The formation the release was made under (Formation.describe), so a diff can show scale,
    # limit and health-check changes; None for releases made before releases recorded it.
    formation: dict[str, str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Release:
        return cls(**data)

    def masked(self) -> Release:
        """The release with its config values hidden (keys stay): what history shows by default,
        so that rotated secrets do not stay readable in every old release."""
        return Release(**{**self.to_dict(), "config": {key: MASK for key in self.config}})

    def successor(self, *, summary: str, created_by: str, created_at: str, **changes) -> Release:
        """The next release: same build and config unless changed."""
        data = {
            "app": self.app,
            "version": self.version + 1,
            "summary": summary,
            "created_by": created_by,
            "created_at": created_at,
            "config": dict(self.config),
            "build_id": self.build_id,
            "image": self.image,
            "procfile": dict(self.procfile),
            "git_sha": self.git_sha,
        }
        data.update(changes)
        return Release(**data)


def parse_version(text: str | int) -> int:
    """Accept 3, '3' or 'v3'."""
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    else:
        match = VERSION_RE.match(str(text))
        if not match:
            raise ValidationError(f"Invalid release version {str(text)[:20]!r}: use vN, e.g. v3")
        number = int(match.group(1))
    if number < 1:
        raise ValidationError("Release versions start at v1")
    return number
