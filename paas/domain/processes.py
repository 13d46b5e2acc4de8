"""Process types and their health check paths: the names a Procfile, a formation and an app.json
share (kept apart from each, so none of them imports another for them)."""

from __future__ import annotations

from .errors import ValidationError
from .patterns import full

PROCESS_TYPE_PATTERN = r"^[a-z][a-z0-9_-]{0,29}$"
PROCESS_TYPE_RE = full(PROCESS_TYPE_PATTERN)
HEALTHCHECK_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,255}$"
HEALTHCHECK_RE = full(HEALTHCHECK_PATTERN)


def validate_process_type(name: str) -> str:
    if not isinstance(name, str) or not PROCESS_TYPE_RE.match(name):
        raise ValidationError(
            f"Invalid process type {str(name)[:40]!r}: lowercase letters, digits, '_' or '-', starting with a letter"
        )
    return name
