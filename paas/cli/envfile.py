"""KEY=VALUE arguments and .env files.

Error messages name keys and line numbers, never values: values are secrets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import CLIError

# The shape of an environment variable name; the controller applies its own, stricter rule.
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Values made only of these are written unquoted.
BARE_VALUE_RE = re.compile(r"^[A-Za-z0-9_./:@%+,=?&~^-]*$")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def validate_key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        raise CLIError(f"Invalid config key {key!r}: use letters, digits and '_', not starting with a digit")
    return key


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """['A=1', 'B=x=y'] -> {'A': '1', 'B': 'x=y'}; 'A=' sets an empty value."""
    result: dict[str, str] = {}
    for position, item in enumerate(items, start=1):
        key, sep, value = item.partition("=")
        # A malformed argument may be a pasted secret, so it is named by position only.
        if not sep or not KEY_RE.fullmatch(key):
            raise CLIError(
                f"Argument {position} is not KEY=VALUE (keys are letters, digits and '_', not starting with a digit)"
            )
        if key in result:
            raise CLIError(f"{key} is given more than once")
        result[key] = value
    if not result:
        raise CLIError("No config vars given: use KEY=VALUE")
    return result


def parse_keys(items: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for item in items:
        if "=" in item:
            raise CLIError("config:unset takes key names only, e.g. config:unset KEY")
        validate_key(item)
        if item not in keys:
            keys.append(item)
    if not keys:
        raise CLIError("No config keys given")
    return keys


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        if value[0] == "'":
            return inner
        return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner)
    return value


def parse_env(text: str, source: str = ".env") -> dict[str, str]:
    """Parse KEY=VALUE lines. Blank lines and # comments are skipped, 'export ' is allowed,
    one pair of matching quotes around the value is removed ("..." understands \\n \\t \\" \\\\).
    Unquoted values are taken literally, '#' included. A repeated key keeps its last value.
    """
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not KEY_RE.fullmatch(key):
            raise CLIError(f"{source} line {number}: expected KEY=VALUE")
        result[key] = _unquote(value.strip())
    return result


def format_value(value: str) -> str:
    if BARE_VALUE_RE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def format_env(values: dict[str, str]) -> str:
    """KEY=VALUE lines sorted by key, quoted where parse_env needs it to read the value back."""
    return "".join(f"{key}={format_value(values[key])}\n" for key in sorted(values))
