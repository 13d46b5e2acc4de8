"""Reporting the release a mutation created."""

from __future__ import annotations

from typing import Any

from .errors import CLIError
from .output import fmt_version


def release_result(release: dict[str, Any] | None) -> str:
    """The tail of a progress line: 'v3', or 'no changes' when no release was made."""
    if not release:
        return "no changes"
    return fmt_version(release.get("version"))


def check_release(app: str, release: dict[str, Any] | None) -> None:
    """A release whose deploy failed is an error for the user, even though the request succeeded."""
    if release and release.get("failed"):
        reason = release.get("failure_reason") or "unknown reason"
        raise CLIError(
            f"Release {fmt_version(release.get('version'))} of {app} failed to deploy: {reason} "
            "(the previous release keeps serving)"
        )
