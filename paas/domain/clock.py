"""Timestamps in one format: ISO 8601, UTC, seconds precision."""

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
