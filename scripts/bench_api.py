#!/usr/bin/env python3
"""Latency of the release API against the real Consul, through the real controller (gunicorn).

Creates an app, makes 1,000 releases with config:set (timing each create), then lists pages of
releases. Prints p50/p99. Uses a private KV prefix and removes it afterwards.

    .venv/bin/python scripts/bench_api.py [--releases 1000] [--lists 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import harness  # noqa: E402


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(f"{name:<40} n={len(ms):<5} p50={percentile(ms, 50):6.2f} ms  p99={percentile(ms, 99):6.2f} ms  "
          f"mean={statistics.fmean(ms):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--lists", type=int, default=300)
    args = parser.parse_args()

    prefix = f"paas-bench-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp()) / "controller.log"
    proc, url = harness.start_controller({"PAAS_KV_PREFIX": prefix}, log)
    session = requests.Session()
    try:
        token = session.post(f"{url}/v1/auth/register",
                             json={"username": "bench", "password": "bench-password"}).json()["token"]
        session.headers["Authorization"] = f"Bearer {token}"
        session.post(f"{url}/v1/apps", json={"name": "bench"}).raise_for_status()

        creates = []
        for i in range(args.releases - 1):
            start = time.perf_counter()
            response = session.patch(f"{url}/v1/apps/bench/config", json={"values": {"COUNTER": str(i)}})
            creates.append(time.perf_counter() - start)
            response.raise_for_status()
        latest = session.get(f"{url}/v1/apps/bench").json()["release"]
        print(f"app 'bench' has {latest} releases (Consul at {os.environ.get('CONSUL_HTTP_ADDR', '127.0.0.1:8500')})")
        report("create release (PATCH config)", creates)

        for label, page in (("list releases, first page (25)", 1), ("list releases, page 20 (25)", 20)):
            samples = []
            for _ in range(args.lists):
                start = time.perf_counter()
                response = session.get(f"{url}/v1/apps/bench/releases", params={"page": page, "per_page": 25})
                samples.append(time.perf_counter() - start)
                response.raise_for_status()
            report(label, samples)
        samples = []
        for _ in range(args.lists // 3):
            start = time.perf_counter()
            session.get(f"{url}/v1/apps/bench/releases", params={"per_page": 100}).raise_for_status()
            samples.append(time.perf_counter() - start)
        report("list releases, first page (100)", samples)
    finally:
        harness.stop(proc)
        consul = os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
        consul = consul if "://" in consul else f"http://{consul}"
        requests.delete(f"{consul}/v1/kv/{prefix}/", params={"recurse": "true"}, timeout=10,
                        headers={"X-Consul-Token": os.environ.get("CONSUL_HTTP_TOKEN", "")})


if __name__ == "__main__":
    main()
