"""The log collector against the real Docker engine: containers labelled as a platform's
instances and one-off runs (a platform prefix of this test's own, so nothing else is read)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import docker
import pytest

from paas.domain.logs import LogLine
from paas.logstore.lock import FileHostLock
from paas.logstore.sqlite import SqliteLogStore
from paas.router.access_log import FileAccessLog
from paas.scheduler.docker_logs import DockerContainerOutput
from paas.services.log_collector import LogCollector

from ..conftest import unique, wait_until

IMAGE = "paas/stack-run:latest"


@pytest.fixture
def platform(docker_client) -> Iterator[str]:
    prefix = unique("paas-test-logs")
    yield prefix
    for container in docker_client.containers.list(all=True, filters={"label": f"paas.platform={prefix}"}):
        container.remove(force=True)


def run(client: docker.DockerClient, platform: str, app: str, command: str, role: str = "instance",
        process_type: str = "web", name: str | None = None):
    labels = {"paas.platform": platform, "paas.app": app, "paas.role": role}
    if role == "instance":
        labels["paas.type"] = process_type
    return client.containers.run(IMAGE, ["sh", "-c", command], detach=True, labels=labels,
                                 name=name or f"paas-{app}-{process_type}-v1-{unique('x')[-6:]}")


def collector_for(platform: str, store: SqliteLogStore, tmp_path, docker_client, **kwargs) -> LogCollector:
    return LogCollector(DockerContainerOutput(platform, lambda: docker_client), store,
                        FileHostLock(tmp_path / "collector.lock"), **kwargs)


def texts(store: SqliteLogStore, app: str) -> list[str]:
    return [line.text for _, line in store.read(app, 1000)]


def test_output_of_running_started_and_removed_containers_is_kept_with_dockers_timestamps(
        platform, docker_client, tmp_path):
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    early = run(docker_client, platform, "shop", "echo before the collector; sleep 30")
    collector = collector_for(platform, store, tmp_path, docker_client)
    collector.start()
    try:
        wait_until(lambda: "before the collector" in texts(store, "shop"), timeout=10, message="an early line")
        one_off = run(docker_client, platform, "shop", "echo from a one-off run", role="run",
                      name=f"paas-shop-run-{unique('r')[-6:]}")
        worker = run(docker_client, platform, "shop", "for i in 1 2 3; do echo tick $i; done", process_type="worker")
        wait_until(lambda: {"from a one-off run", "tick 3"} <= set(texts(store, "shop")), timeout=10,
                   message="lines of containers started later")
        worker.wait(timeout=10)
        worker.remove()
        one_off.wait(timeout=10)
        one_off.remove()
    finally:
        collector.stop()
    lines = [line for _, line in store.read("shop", 1000)]
    assert {line.source for line in lines} == {f"web.{early.name[-6:]}", f"worker.{worker.name[-6:]}",
                                               f"run.{one_off.name[-6:]}"}
    stamped = {line.text: line.ts for line in lines}
    started = docker_client.api.inspect_container(early.id)["State"]["StartedAt"]
    assert started[:19] <= _iso(stamped["before the collector"])[:19]  # Docker's time, not ours
    assert [t for t in texts(store, "shop") if t.startswith("tick")] == ["tick 1", "tick 2", "tick 3"]
    early.remove(force=True)
    assert "tick 2" in texts(store, "shop")  # the containers are gone, their lines stay


def test_a_restarted_collector_resumes_without_repeating_or_losing_lines(platform, docker_client, tmp_path):
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    ticking = run(docker_client, platform, "shop", "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.05; done")
    first = collector_for(platform, store, tmp_path, docker_client)
    first.start()
    wait_until(lambda: len(texts(store, "shop")) >= 5, timeout=10, message="lines before the restart")
    first.stop()
    stopped_at = len(texts(store, "shop"))
    second = collector_for(platform, store, tmp_path, docker_client)
    second.start()
    try:
        wait_until(lambda: len(texts(store, "shop")) >= stopped_at + 20, timeout=10, message="lines after")
    finally:
        second.stop()
        ticking.remove(force=True)
    numbers = [int(t[1:]) for t in texts(store, "shop")]
    assert numbers == list(range(1, len(numbers) + 1))  # each line once, none missing


def test_only_one_collector_of_a_host_collects(platform, docker_client, tmp_path):
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    one, two = (collector_for(platform, store, tmp_path, docker_client) for _ in range(2))
    one.start()
    wait_until(lambda: one.collecting, timeout=5, message="the first collector collecting")
    two.start()
    container = run(docker_client, platform, "shop", "echo once; sleep 30")
    try:
        wait_until(lambda: "once" in texts(store, "shop"), timeout=10, message="the line")
        assert not two.collecting
        one.stop()  # its process died, say: the other takes over
        wait_until(lambda: two.collecting, timeout=5, message="the second collector taking over")
    finally:
        two.stop()
        container.remove(force=True)
    assert texts(store, "shop") == ["once"]


def test_router_lines_come_from_the_access_log_and_name_the_instance(platform, docker_client, tmp_path):
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    access = tmp_path / "access.log"
    access.write_text("")
    web = run(docker_client, platform, "shop", "echo up; sleep 30")
    address = web.attrs["NetworkSettings"]["IPAddress"] or "10.0.0.9"
    collector = collector_for(platform, store, tmp_path, docker_client,
                              access_log=FileAccessLog(access, tmp_path / "position.json"))
    collector._instances[f"{address}:5000"] = f"web.{web.name[-6:]}"  # no app network in this test
    collector.start()
    try:
        wait_until(lambda: "up" in texts(store, "shop"), timeout=10, message="the instance's line")
        with access.open("a") as out:
            for service in ("shop-web@consulcatalog", "someone-elses-web@consulcatalog"):
                out.write(json.dumps({"ServiceName": service, "RequestMethod": "GET", "RequestPath": "/?k=v",
                                      "DownstreamStatus": 200, "Duration": 2_000_000,
                                      "ServiceURL": f"http://{address}:5000",
                                      "StartUTC": "2026-12-02T09:00:00.5Z"}) + "\n")
        wait_until(lambda: any(t.startswith("GET") for t in texts(store, "shop")), timeout=5, message="a router line")
    finally:
        collector.stop()
        web.remove(force=True)
    router = [line for _, line in store.read("shop", 100, sources=("router",))]
    assert [line.text for line in router] == [f"GET / 200 2.0ms instance=web.{web.name[-6:]}"]
    assert store.read("someone-elses", 10) == []


def test_forwarded_lines_are_the_new_ones_only(platform, docker_client, tmp_path):
    store = SqliteLogStore(tmp_path / "lines.sqlite3", 1000, 3600)
    forwarded: list[LogLine] = []
    lock = threading.Lock()

    def forward(lines: list[LogLine]) -> None:
        with lock:
            forwarded.extend(lines)

    container = run(docker_client, platform, "shop", "echo a; echo b; sleep 3; echo c; sleep 30")
    first = collector_for(platform, store, tmp_path, docker_client, forward=forward)
    first.start()
    wait_until(lambda: len(texts(store, "shop")) == 2, timeout=10, message="a and b")
    first.stop()
    # The second collector reads a and b again (Docker's since is inclusive): not forwarded twice.
    second = collector_for(platform, store, tmp_path, docker_client, forward=forward)
    second.start()
    try:
        wait_until(lambda: "c" in texts(store, "shop"), timeout=10, message="c")
    finally:
        second.stop()
        container.remove(force=True)
    assert [line.text for line in forwarded] == ["a", "b", "c"]


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
