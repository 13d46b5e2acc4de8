"""Input patterns, written once for two readers: the domain's validators and the OpenAPI spec.

Each pattern is a JSON Schema (ECMA 262) regex, `^...$`, which is what the spec publishes. In
Python `$` also matches before a trailing newline ("name\\n" passed `re.match(r"^name$")`), so the
validators never use the text as is: `full()` compiles it anchored with `\\A...\\Z`, which makes
even a plain `.match()` a full match, wherever a caller uses it."""

from __future__ import annotations

import re


def full(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """The spec pattern `^BODY$` compiled as `\\A(?:BODY)\\Z`: the whole string or nothing."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"spec patterns are anchored ^...$: {pattern!r}")
    return re.compile(rf"\A(?:{pattern[1:-1]})\Z", flags)
