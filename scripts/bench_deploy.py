#!/usr/bin/env python3
"""Deploy speed and controller memory through the real controller, Docker and Consul.

Prints: config:set -> every new instance live and every old one gone (Flask sample, 2 web),
scale 1 -> 10 until all pass their checks, and the controller's memory (RSS of its processes)
with 20 apps deployed. Needs the services running (scripts/services.sh start) and the stacks.

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

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from paas.config import Settings  # noqa: E402
from paas.wiring import build_services  # noqa: E402
from tests import harness  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--apps", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    settings = replace(Settings.from_env(), kv_prefix=f"paas-bench-{uuid.uuid4().hex[:8]}", data_dir=work / "data")
    services = build_services(settings)
    print("building the Flask sample image...")
    image = services.builds.builder.build("bench-img", uuid.uuid4().hex[:12], harness.REPO / "tests/apps/flask", {},
                                          lambda line: None).image
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
            assert deployed["deployment"]["status"] == "successful", deployed
            return name

        app = create("bench-deploy")
        session.patch(f"{url}/v1/apps/{app}/formation", json={"quantities": {"web": 2}}).raise_for_status()
        times = []
        for i in range(args.rounds):
            start = time.perf_counter()
            body = session.patch(f"{url}/v1/apps/{app}/config", json={"values": {"N": str(i)}}).json()
            times.append(time.perf_counter() - start)
            assert body["deployment"]["status"] == "successful", body
            instances = session.get(f"{url}/v1/apps/{app}/ps").json()["instances"]
            assert {i["release"] for i in instances} == {body["release"]["version"]}, instances
            print(f"  config:set -> v{body['release']['version']} live, old gone: {times[-1]:.2f} s "
                  f"({len(instances)} instances)")
        print(f"config:set to live (2 web): median {statistics.median(times):.2f} s, "
              f"min {min(times):.2f}, max {max(times):.2f}")

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
    finally:
        for name in apps:
            session.delete(f"{url}/v1/apps/{name}")
        harness.stop(controller)
        services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": settings.kv_prefix + "/"}}])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
