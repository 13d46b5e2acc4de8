#!/usr/bin/env python3
"""Deploy speed and controller memory through the real controller, Docker and Consul.

Prints: config:set -> the call returns (the new release serves) and -> every old instance gone
(Flask sample, 2 web), scale 1 -> 10 until all pass their checks, and with 20 apps deployed the
controller's memory (RSS of its processes) and the CPU the local Consul agent and the controller
use at idle. Needs the services running (scripts/services.sh start) and the stacks.

    .venv/bin/python scripts/bench_deploy.py [--rounds 5] [--apps 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from paas.config import Settings  # noqa: E402
from paas.wiring import build_services  # noqa: E402
from tests import harness  # noqa: E402
from tests.integration.builder_support import sample_image  # noqa: E402

WEB = {"web": "gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app"}


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (gunicorn master + workers), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children so far, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def consul_pid() -> int | None:
    run_dir = Path(os.environ.get("PAAS_RUN_DIR", harness.REPO / ".run"))
    try:
        return int((run_dir / "consul.pid").read_text())
    except (OSError, ValueError):
        return None


def idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Percent of one core each process used over `seconds` of idling."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(seconds)  # the measurement window itself
    return {name: 100 * (cpu_seconds(pid) - before[name]) / seconds for name, pid in pids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    settings = replace(Settings.from_env(), kv_prefix=f"paas-bench-{uuid.uuid4().hex[:8]}", data_dir=work / "data")
    services = build_services(settings)
    print("building the Flask sample image...")
    docker_client = docker.from_env()
    sample = sample_image(services.builds.builder, docker_client, "flask", "paas-bench/flask")
    image, _ = sample.__enter__()  # a local tag outside the registry, which any app may deploy
    env = {"PAAS_KV_PREFIX": settings.kv_prefix, "PAAS_DATA_DIR": str(settings.data_dir)}
    controller, url = harness.start_controller(env, work / "controller.log")
    session = requests.Session()
    apps: list[str] = []
    try:
        token = session.post(f"{url}/v1/auth/register", json={"username": "bench", "password": "bench-pass"}).json()
        session.headers["Authorization"] = f"Bearer {token['token']}"

        def create(name: str) -> str:
            session.post(f"{url}/v1/apps", json={"name": name}).raise_for_status()
            apps.append(name)
            deployed = session.post(f"{url}/v1/apps/{name}/builds", json={"image": image, "procfile": WEB}).json()
            assert (deployed.get("deployment") or {}).get("promoted"), deployed
            return name

        app = create("bench-deploy")
        session.patch(f"{url}/v1/apps/{app}/formation", json={"quantities": {"web": 2}}).raise_for_status()
        times, gone_times = [], []
        for i in range(args.rounds):
            start = time.perf_counter()
            body = session.patch(f"{url}/v1/apps/{app}/config", json={"values": {"N": str(i)}}).json()
            times.append(time.perf_counter() - start)
            assert body["deployment"]["promoted"], body
            version = body["release"]["version"]
            harness.wait_until(lambda v=version: {i["release"] for i in session.get(
                f"{url}/v1/apps/{app}/ps").json()["instances"]} == {v}, 60, message="old instances gone",
                interval=0.05)
            gone_times.append(time.perf_counter() - start)
            print(f"  config:set -> v{version} live (call returned): {times[-1]:.2f} s, old gone: {gone_times[-1]:.2f} s")
        print(f"config:set until the call returns with the release live (2 web): median {statistics.median(times):.2f} s, "
              f"min {min(times):.2f}, max {max(times):.2f}")
        print(f"config:set until every old instance is gone: median {statistics.median(gone_times):.2f} s")

        session.patch(f"{url}/v1/apps/{app}/formation", json={"quantities": {"web": 1}}).raise_for_status()
        harness.wait_until(lambda: len(session.get(f"{url}/v1/apps/{app}/ps").json()["instances"]) == 1, 60, message="scale 1")
        start = time.perf_counter()
        session.patch(f"{url}/v1/apps/{app}/formation", json={"quantities": {"web": 10}}).raise_for_status()

        def all_passing() -> bool:
            instances = session.get(f"{url}/v1/apps/{app}/ps").json()["instances"]
            return sum(i["health"] == "passing" for i in instances) == 10

        harness.wait_until(all_passing, 120, message="10 passing instances", interval=0.1)
        print(f"scale 1 -> 10 until all pass: {time.perf_counter() - start:.2f} s")
        session.patch(f"{url}/v1/apps/{app}/formation", json={"quantities": {"web": 1}}).raise_for_status()

        print(f"deploying {args.apps - 1} more apps...")
        for n in range(args.apps - 1):
            create(f"bench-app-{n}")
        time.sleep(5)  # let the supervisors settle into steady-state reconciling
        print(f"controller memory with {len(apps)} apps deployed: {rss_mb(controller.pid):.0f} MB RSS "
              f"(gunicorn master + {os.environ.get('PAAS_WORKERS', '2')} workers)")
        pids = {"controller": controller.pid}
        if consul_pid():
            pids["consul agent"] = consul_pid()
        for name, percent in idle_cpu(pids, args.idle).items():
            print(f"{name} CPU at idle with {len(apps)} apps: {percent:.1f} % of one core (over {args.idle:g} s)")
    finally:
        for name in apps:
            session.delete(f"{url}/v1/apps/{name}")
        harness.stop(controller)
        sample.__exit__(None, None, None)
        services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": settings.kv_prefix + "/"}}])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
