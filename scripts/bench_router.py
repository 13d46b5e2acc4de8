#!/usr/bin/env python3
"""Route convergence and overhead of the router (Traefik + Consul catalog), loopback only.

For each of --rounds rounds, one instance (a stdlib HTTP server) is registered in the local
Consul agent with paas.router.tags.live_tags, and the script measures:
  up       from its check passing in Consul to its first request routed by Traefik
  dereg    from its deregistration to the last request Traefik routed to it
  fail     from its check turning critical in Consul to the last request routed to it
Then --requests sequential keep-alive GETs measure latency through Traefik versus straight to
the backend (p50/p99; Traefik's added latency is the difference).

Needs Consul and Traefik: scripts/services.sh start consul traefik.

    .venv/bin/python scripts/bench_router.py [--rounds 10] [--requests 3000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from paas.domain import names  # noqa: E402
from paas.router import tags  # noqa: E402
from tests.integration.test_router import Agent, Backend  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.router_client import RouterAddress, RouterClient  # noqa: E402

POLL = 0.005  # seconds between probes


def watch(predicate, stop: threading.Event, out: dict, key: str) -> threading.Thread:
    """Record in out[key] the first time predicate() is true (polled every POLL s)."""
    def run():
        while not stop.is_set():
            if predicate():
                out[key] = time.monotonic()
                return
            time.sleep(POLL)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def last_routed(client: RouterClient, host: str, name: str, deadline: float) -> float | None:
    """Probe host until it stops answering from backend `name`; the time of the last answer."""
    last = None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            r = client.get(host)
            ok = r.status == 200 and r.text.startswith(name + " ")
        except OSError:
            ok = False
        if not ok:
            return last
        last = time.monotonic()
        time.sleep(POLL)
    raise TimeoutError(f"{host} still routed to {name} after {deadline}s")


def one_round(agent: Agent, client: RouterClient, n: int) -> dict[str, float]:
    app = f"bench-{uuid.uuid4().hex[:8]}"
    service = names.service(app)
    host = tags.app_hosts(app, [], "paas.test")[0]
    backend = Backend(f"b{n}")
    out: dict[str, float] = {}
    try:
        # up: check passing -> first routed request
        stop = threading.Event()
        threads = [
            watch(lambda: f"{service}-1" in agent.passing(service), stop, out, "passing"),
            watch(lambda: client.status(host) == 200, stop, out, "routed"),
        ]
        out["registered"] = time.monotonic()
        agent.register(service, f"{service}-1", backend, tags.live_tags(app, 1, tags.app_hosts(app, [], "paas.test")))
        wait_until(lambda: "passing" in out and "routed" in out, 15, message="passing and routed", interval=POLL)
        stop.set()
        for t in threads:
            t.join()

        # fail: check critical -> last routed request
        stop = threading.Event()
        crit: dict[str, float] = {}
        thread = watch(lambda: f"{service}-1" not in agent.passing(service), stop, crit, "critical")
        backend.healthy = False
        last = last_routed(client, host, backend.name, 15)
        wait_until(lambda: "critical" in crit, 15, message="critical", interval=POLL)
        stop.set()
        thread.join()
        out["fail"] = (last or crit["critical"]) - crit["critical"]

        # dereg: back to passing and routed, then deregister -> last routed request
        backend.healthy = True
        wait_until(lambda: client.status(host) == 200, 15, message="routed again", interval=POLL)
        t0 = time.monotonic()
        agent.deregister(f"{service}-1")
        last = last_routed(client, host, backend.name, 15)
        out["dereg"] = (last or t0) - t0
    finally:
        agent.cleanup()
        backend.close()
    return {"up": out["routed"] - out["passing"], "register_to_route": out["routed"] - out["registered"],
            "dereg": out["dereg"], "fail": out["fail"]}


def latency(client: RouterClient, host: str, backend: Backend, count: int) -> tuple[list[float], list[float]]:
    direct = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
    via, straight = [], []
    for _ in range(50):  # warm both paths
        client.get(host)
        direct.request("GET", "/", headers={"Host": host})
        direct.getresponse().read()
    for _ in range(count):  # interleaved, so drift affects both alike
        t = time.perf_counter()
        r = client.get(host)
        via.append(time.perf_counter() - t)
        assert r.status == 200
        t = time.perf_counter()
        direct.request("GET", "/", headers={"Host": host})
        direct.getresponse().read()
        straight.append(time.perf_counter() - t)
    direct.close()
    return via, straight


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(x: float) -> str:
    return f"{x * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    if not (1 <= args.rounds <= 100 and 1 <= args.requests <= 100_000):
        parser.error("--rounds 1..100, --requests 1..100000 (bounded: loopback benchmark)")

    agent = Agent(os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500"))
    router = RouterAddress.from_env()
    client = RouterClient(router)
    print(f"router http://127.0.0.1:{router.http_port}, consul {agent.addr}, {args.rounds} rounds")

    results = [one_round(agent, client, n) for n in range(args.rounds)]
    print("\nroute convergence (median / max over rounds):")
    labels = {
        "up": "check passing -> first routed request",
        "register_to_route": "registration -> first routed request",
        "dereg": "deregistration -> last routed request",
        "fail": "check critical -> last routed request",
    }
    for key, label in labels.items():
        values = [r[key] for r in results]
        print(f"  {label:40s} {ms(statistics.median(values))} / {ms(max(values))}")

    app = f"bench-{uuid.uuid4().hex[:8]}"
    host = tags.app_hosts(app, [], "paas.test")[0]
    backend = Backend("lat")
    try:
        agent.register(names.service(app), f"{app}-web-1", backend, tags.live_tags(app, 1, [host]))
        wait_until(lambda: client.status(host) == 200, 15, message="the latency route", interval=POLL)
        via, straight = latency(client, host, backend, args.requests)
    finally:
        agent.cleanup()
        backend.close()
        client.close()
    print(f"\nlatency, {args.requests} sequential keep-alive GETs each:")
    print(f"  {'':18s} {'p50':>11s} {'p99':>11s} {'mean':>11s}")
    for label, values in (("through Traefik", via), ("straight", straight)):
        print(f"  {label:18s} {ms(pct(values, 50))} {ms(pct(values, 99))} {ms(statistics.fmean(values))}")
    print(f"  {'Traefik adds':18s} {ms(pct(via, 50) - pct(straight, 50))} {ms(pct(via, 99) - pct(straight, 99))}"
          f" {ms(statistics.fmean(via) - statistics.fmean(straight))}")


if __name__ == "__main__":
    main()
