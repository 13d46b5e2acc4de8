"""Timestamps in one format: ISO 8601, UTC, seconds precision."""

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The inverse of now_iso (and of iso)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
