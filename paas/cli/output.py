"""Human output (tables, info blocks, progress lines) and raw JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def note(message: str) -> None:
    """Side remarks go to stderr so stdout stays parseable."""
    print(message, file=sys.stderr)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return "\n".join(align([headers, *rows]))


def align(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows of cells as lines with each column padded to its widest cell (None shows as '')."""
    table = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not table:
        return []
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    if not rows:
        print(empty)
        return
    print(format_table(headers, rows))


def print_info(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """'=== title' followed by aligned 'Key:  value' lines."""
    print(f"=== {title}")
    width = max((len(key) for key, _ in pairs), default=0) + 1
    for key, value in pairs:
        print(f"{(key + ':').ljust(width)}  {'' if value is None else value}")


def print_page_footer(page: dict[str, Any]) -> None:
    """Say when a paginated list has more than what was shown."""
    try:
        count, number, per_page = int(page["count"]), int(page["page"]), int(page["per_page"])
    except (KeyError, TypeError, ValueError):
        return
    if per_page > 0 and count > number * per_page:
        pages = -(-count // per_page)
        print(f"(page {number} of {pages}, {count} in all: use --page {number + 1} for more)")


def fmt_time(value: Any) -> str:
    """ISO 8601 -> '2024-05-01 12:00:00 UTC'; anything unparseable is shown as is."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.utcoffset()
    if offset is None:
        return text
    if not offset:
        return text + " UTC"
    return text + " " + moment.strftime("%z")


def fmt_version(version: Any) -> str:
    return f"v{version}" if isinstance(version, int) and not isinstance(version, bool) and version > 0 else "-"


class Progress:
    """Heroku-style 'Doing something... done, v3' on one line.

    The first half is flushed before the request so a slow deploy shows what it
    is waiting for; a failure ends the line with 'failed' before the error.
    With quiet=True (--json) nothing is printed.
    """

    def __init__(self, message: str, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.message = message
        self.quiet = quiet
        self.stream = stream
        self.result = ""

    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def __enter__(self) -> Progress:
        if not self.quiet:
            print(f"{self.message}... ", end="", file=self._out(), flush=True)
        return self

    def done(self, result: str) -> None:
        self.result = result

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.quiet:
            return
        if exc_type is not None:
            print("failed", file=self._out(), flush=True)
        else:
            print("done" + (f", {self.result}" if self.result else ""), file=self._out(), flush=True)
