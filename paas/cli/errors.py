"""Errors the CLI reports as `Error: ...` on stderr, exiting 1."""

from __future__ import annotations

from typing import Any


class CLIError(Exception):
    """A problem the user can fix; the message is shown as is and must never hold a secret."""


class APIError(CLIError):
    """The controller answered with an HTTP error."""

    def __init__(self, status: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


def flatten_field_errors(errors: dict[str, Any]) -> list[str]:
    """Turn {"json": {"name": ["bad"]}} into ["name: bad"].

    The outer level is where the field came from (json, query, path...), which
    says nothing useful to a CLI user, so it is dropped when it is a dict.
    """
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list | tuple):
            if all(not isinstance(item, dict | list) for item in value):
                lines.append(f"{prefix}: {'; '.join(str(item) for item in value)}")
            else:
                for index, item in enumerate(value):
                    walk(f"{prefix}.{index}", item)
        else:
            lines.append(f"{prefix}: {value}" if prefix else str(value))

    for location, value in errors.items():
        if isinstance(value, dict):
            walk("", value)
        else:
            walk(str(location), value)
    return lines
