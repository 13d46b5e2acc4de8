"""The legs of the Scheduler contract suite: `scheduler_under_test` runs every test once per leg.

    nomad-double  the nomad adapter against tests/doubles/nomad_api.py (always runs)
    nomad-real    the nomad adapter against the cluster at NOMAD_ADDR (with PAAS_CONTRACT_IMAGE)
    docker        the docker adapter, from tests/contract/docker_driver.py (real Docker + Consul)

A leg that cannot run is skipped with its reason, and the reason is printed at the end of the run.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator

import pytest

from . import nomad_driver
from .driver import SchedulerUnderTest

LEGS = ["nomad-double", "nomad-real", "docker"]
_skipped_legs: dict[str, str] = {}


def _skip_leg(leg: str, reason: str) -> None:
    _skipped_legs[leg] = reason
    pytest.skip(reason)


@pytest.fixture(scope="session", params=LEGS)
def scheduler_under_test(request) -> Iterator[SchedulerUnderTest]:
    leg = request.param
    if leg == "nomad-double":
        with nomad_driver.double_target() as target:
            yield target
    elif leg == "nomad-real":
        reason = nomad_driver.real_leg_skip_reason()
        if reason:
            _skip_leg(leg, reason)
        with nomad_driver.real_target(os.environ["PAAS_CONTRACT_IMAGE"]) as target:
            yield target
    else:
        try:
            docker_driver = importlib.import_module("tests.contract.docker_driver")
        except ModuleNotFoundError as exc:
            if exc.name != "tests.contract.docker_driver":
                raise
            _skip_leg(leg, "docker adapter not wired yet")
        with docker_driver.target() as target:
            yield target


@pytest.fixture
def app(scheduler_under_test: SchedulerUnderTest) -> Iterator[str]:
    """A fresh app name, destroyed afterwards whatever the test did."""
    name = f"ct-{uuid.uuid4().hex[:8]}"
    yield name
    scheduler_under_test.scheduler.destroy(name)


def pytest_terminal_summary(terminalreporter) -> None:
    for leg, reason in sorted(_skipped_legs.items()):
        terminalreporter.write_line(f"scheduler contract: {leg} leg skipped: {reason}")
