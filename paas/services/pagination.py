"""Pages of results: {count, page, per_page, results}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


@dataclass
class Page(Generic[T]):
    count: int
    page: int
    per_page: int
    results: list[T]


def paginate(items: list[T], page: int, per_page: int) -> Page[T]:
    start = (page - 1) * per_page
    return Page(count=len(items), page=page, per_page=per_page, results=items[start : start + per_page])
