"""Finding 8 (scheduler side): two platforms on one Docker engine and one Consul stay apart.

Two docker schedulers with different KV prefixes (as two controllers started with different
PAAS_KV_PREFIX) run an app of the *same name*. Each one's reconcile, scale, destroy and the
supervisor's sweep of destroyed apps (a real controller's services, whose KV holds no app at
all) must leave the other platform's containers, Consul registrations and network alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from paas.domain import names
from paas.domain.scheduler import AppPlan, ProcessPlan, UpdatePolicy
from paas.scheduler.docker import DockerScheduler
from paas.store.kv import connect
from paas.wiring import build_services, route_tags
from tests.conftest import unique, wait_until
from tests.rollout import roll_out

CONTRACT_APP = Path(__file__).resolve().parent.parent / "contract" / "app"
UPDATE = UpdatePolicy(min_healthy_time=0.5, healthy_deadline=20.0, drain_time=0.2, stop_timeout=2.0)


@pytest.fixture(scope="module")
def image(docker_client) -> str:
    built, _ = docker_client.images.build(path=str(CONTRACT_APP), tag="paas-contract-app:latest", rm=True,
                                          buildargs={"BASE": "paas/stack-run:latest"})
    return "paas-contract-app:latest"


def plan(app: str, image: str, web: int = 1, worker: int = 1) -> AppPlan:
    return AppPlan(app=app, release=2, image=image, env={"CONTRACT_UNHEALTHY": "0"}, update=UPDATE,
                   processes=[ProcessPlan("web", "python3 /srv/server.py", web, healthcheck="/health"),
                              ProcessPlan("worker", "python3 /srv/server.py --worker", worker)])


@pytest.fixture
def platforms(settings, docker_client) -> Iterator[tuple[DockerScheduler, DockerScheduler]]:
    made = []
    for _ in range(2):
        prefix = unique("paas-plat")
        mine = replace(settings, kv_prefix=prefix)
        made.append(DockerScheduler(mine, connect(mine.consul_addr, mine.consul_token), route_tags(mine),
                                    docker_client))
    yield made[0], made[1]
    for scheduler in made:
        for app in scheduler.apps():
            scheduler.destroy(app)


def seen(scheduler: DockerScheduler, app: str) -> tuple[set[str], set[str], list]:
    """(its running containers, its Consul registrations, its networks) of one platform's app."""
    containers = {c.name for c in scheduler.containers(app) if c.status == "running"}
    registered = {sid for sid, svc in scheduler.agent.agent.services().items()
                  if (svc.get("Meta") or {}).get("platform") == scheduler.platform
                  and (svc.get("Meta") or {}).get("app") == app}
    networks = scheduler.client.networks.list(names=[names.app_network(scheduler.platform, app)])
    return containers, registered, networks


def test_one_platform_never_touches_the_others_app_of_the_same_name(platforms, image):
    a, b = platforms
    app = f"twin-{uuid.uuid4().hex[:6]}"
    live_a = roll_out(a, plan(app, image))
    roll_out(b, plan(app, image))
    b_before = seen(b, app)
    a_before = seen(a, app)
    assert len(b_before[0]) == 2 and b_before[1] == b_before[0] and len(b_before[2]) == 1, b_before
    assert len(a_before[0]) == 2 and not a_before[0] & b_before[0]
    assert a_before[2][0].id != b_before[2][0].id  # one network per platform and app
    assert app in a.apps() and app in b.apps()

    def b_untouched() -> None:
        now = seen(b, app)
        assert now[0] == b_before[0], f"platform b's containers changed: {b_before[0]} -> {now[0]}"
        assert now[1] == b_before[1], f"platform b's registrations changed: {b_before[1]} -> {now[1]}"
        assert [n.id for n in now[2]] == [b_before[2][0].id], "platform b's network changed"

    # a's reconcile and scale of the same app name: more web, no worker.
    a.reconcile(plan(app, image, web=2, worker=0), live_a, keep={live_a})
    wait_until(lambda: len(seen(a, app)[0]) == 2 and all("-web-" in n for n in seen(a, app)[0]), timeout=20,
               message="a's reconcile to converge")
    b_untouched()
    a.reconcile(plan(app, image, web=0, worker=0), live_a, keep={live_a})
    wait_until(lambda: seen(a, app)[0] == set(), timeout=20, message="a scaled to nothing")
    b_untouched()

    # a real sweep by a controller of platform a whose KV has no app at all: it removes what a
    # still runs for apps it does not know, and nothing of b.
    a.reconcile(plan(app, image, web=1, worker=0), live_a, keep={live_a})
    assert seen(a, app)[0]
    services_a = build_services(a.settings)
    supervisor = services_a.supervisor(f"test-{uuid.uuid4().hex[:6]}")
    try:
        supervisor.run_once()
    finally:
        supervisor.locks.close()
    wait_until(lambda: not seen(a, app)[0] and not seen(a, app)[2], timeout=30, message="a's sweep")
    assert app not in a.apps()
    b_untouched()

    # And a's destroy of that name (again) leaves b serving.
    a.destroy(app)
    b_untouched()
    for container in b.containers(app):
        container.reload()
        assert container.status == "running"
    b.destroy(app)
    assert seen(b, app) == (set(), set(), [])


def test_a_platforms_containers_are_not_listed_by_another(platforms, image, docker_client):
    a, b = platforms
    app = f"solo-{uuid.uuid4().hex[:6]}"
    roll_out(b, plan(app, image, worker=0))
    assert app in b.apps() and app not in a.apps()
    assert a.containers(app) == [] and a.instances(app) == []
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(names.app_network(a.platform, app))
