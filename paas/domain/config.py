"""Config vars: the environment a release runs with."""

from __future__ import annotations

from .errors import ValidationError
from .patterns import full

CONFIG_KEY_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
CONFIG_KEY_RE = full(CONFIG_KEY_PATTERN)
MAX_KEY_LENGTH = 256
MAX_VALUE_BYTES = 32 * 1024
# A release stores a full config snapshot in one Consul value (limit 512 KB).
MAX_CONFIG_BYTES = 256 * 1024


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not CONFIG_KEY_RE.match(key) or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"Invalid config key {str(key)[:60]!r}: keys match [A-Z_][A-Z0-9_]* (at most {MAX_KEY_LENGTH} chars)"
        )
    return key


def validate_value(key: str, value: str) -> str:
    # Messages name the key, never the value: values are secrets.
    if not isinstance(value, str):
        raise ValidationError(f"Config value of {key} must be a string")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise ValidationError(f"Config value of {key} is larger than {MAX_VALUE_BYTES // 1024} KB")
    if "\x00" in value:
        raise ValidationError(f"Config value of {key} contains a NUL character")
    return value


def apply_changes(current: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """Return the new config: a None value unsets the key. Validates every change."""
    if not changes:
        raise ValidationError("No config changes given")
    result = dict(current)
    for key, value in changes.items():
        validate_key(key)
        if value is None:
            if key not in result:
                raise ValidationError(f"Config var {key} is not set")
            del result[key]
        else:
            result[key] = validate_value(key, value)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in result.items())
    if size > MAX_CONFIG_BYTES:
        raise ValidationError(f"The app's config would exceed {MAX_CONFIG_BYTES // 1024} KB in total")
    return result


def describe_changes(changes: dict[str, str | None]) -> str:
    """'set A, B and unset C' style: key names only."""
    set_keys = sorted(k for k, v in changes.items() if v is not None)
    unset_keys = sorted(k for k, v in changes.items() if v is None)
    parts = []
    if set_keys:
        parts.append("set " + ", ".join(set_keys))
    if unset_keys:
        parts.append("unset " + ", ".join(unset_keys))
    return " and ".join(parts)
