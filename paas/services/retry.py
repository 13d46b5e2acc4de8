"""Retry a check-and-set read-modify-write until it wins."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from paas.domain.errors import ConcurrentUpdate

T = TypeVar("T")
MAX_ATTEMPTS = 200


def retry_on_conflict(attempt: Callable[[], T], max_attempts: int = MAX_ATTEMPTS) -> T:
    """Run `attempt` again (after a short jittered pause) each time a CAS loses."""
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except ConcurrentUpdate:
            if number == max_attempts:
                raise
            # Back off a little more each time so a crowd of writers spreads out.
            time.sleep(random.uniform(0, 0.002 * min(number, 25)))
    raise AssertionError("unreachable")
