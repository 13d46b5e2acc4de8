"""The one polling helper of the tests, the harness and the benchmarks: tests wait for what
they expect with a deadline, never with a bare sleep."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll predicate() until it returns something truthy and return that; TimeoutError (not a
    pytest failure, so the harness and the benchmarks can use it too) at the deadline. An
    exception from predicate() is not retried: it propagates at once."""

    def give_up(_state: RetryCallState) -> T:
        raise TimeoutError(f"timed out after {timeout}s waiting for {message}")

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_result(operator.not_), retry_error_callback=give_up)
    return retrying(predicate)
