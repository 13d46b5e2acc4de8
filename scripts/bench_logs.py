#!/usr/bin/env python3
"""How well the log history keeps up (issue 14: "log ingestion keeps up with 2,000 lines per
second per app without slowing request latency through the router by more than 1 ms at p50").
Prints figures; asserts nothing.

1. The store alone: one app's lines appended in batches, `-n 50` reads while it ingests.
2. End to end, on the real services: a container labelled as a web instance of a bench app
   (paas/stack-run, Python printing numbered lines at --rates lines/s) while the real collector
   (wired by paas/wiring.py, in this process, with a private KV prefix `paas-bench-<hex>` and a
   private data dir) follows it and Traefik's access log. Reported per rate: lines written vs
   stored, ingestion lag (a line's Docker timestamp -> its commit in the store), the collector's
   CPU, and request latency through Traefik to a backend registered in Consul with the
   platform's route tags, with the collector on and off in alternating phases of one run (the
   app prints in both: only the collector differs), so machine noise is shared.
   The request stream and the backend run in processes of their own: in production neither
   shares the controller's interpreter (and its GIL) with the collector.

Cleans up what it created (containers, the Consul registration, the KV prefix, the data dir),
also on Ctrl-C.

    set -a; . .run/consul.env; . .run/traefik.env; set +a
    .venv/bin/python scripts/bench_logs.py [--rates 2000,5000] [--phase-seconds 10] [--pairs 2]
        [--request-rate 200] [--store-seconds 5]
Figures of this machine: docs/design.md, "Log history", "Figures".
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import docker  # noqa: E402

from paas.config import Settings  # noqa: E402
from paas.domain import names  # noqa: E402
from paas.domain.logs import LogLine  # noqa: E402
from paas.logstore.sqlite import SqliteLogStore  # noqa: E402
from paas.router import tags  # noqa: E402
from paas.scheduler.docker_spec import LABEL  # noqa: E402
from paas.services.log_collector import LogCollector  # noqa: E402
from paas.store.kv import connect  # noqa: E402
from paas.wiring import Services, build_services  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.router_client import RouterAddress, RouterClient  # noqa: E402

IMAGE = "paas/stack-run:latest"
SETTLE = 1.0  # seconds after a phase's printer starts before its latency samples count
DRAIN_TIMEOUT = 60.0  # how long the collector may take to store a phase's last line
# The app inside the container: numbered lines at a steady rate (written every 10 ms), then
# `bench-done <count>`, then it idles until removed.
PRINTER = """
import sys, time
rate, seconds, width = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
pad, total, n, start = "x" * width, int(rate * seconds), 0, time.monotonic()
while n < total:
    due = min(total, int((time.monotonic() - start) * rate) + 1)
    if due > n:
        sys.stdout.write("".join(f"bench {i} {pad}\\n" for i in range(n, due)))
        sys.stdout.flush()
        n = due
    time.sleep(0.01)
print(f"bench-done {n}", flush=True)
time.sleep(3600)
"""


# ---------------------------------------------------------------------------------- 1. store
def bench_store(seconds: float, rate: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteLogStore(Path(tmp) / "lines.sqlite3", max_lines=20_000, max_age=3600)
        appends, reads, offered = [], [], 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * rate)
            if offered >= due:
                time.sleep(0.001)
                continue
            batch = [LogLine(time.time(), "bench", f"web.{i % 3:06x}", "web", f"line {offered + i} " + "x" * 80)
                     for i in range(batch_size)]
            began = time.perf_counter()
            store.append(batch, origin="c")
            appends.append((time.perf_counter() - began) * 1000)
            offered += len(batch)
            if len(appends) % 10 == 0:
                began = time.perf_counter()
                store.read("bench", 50)
                reads.append((time.perf_counter() - began) * 1000)
        elapsed = time.monotonic() - start
    print(f"store alone: offered {rate} lines/s for {elapsed:.1f}s: stored {offered} lines = "
          f"{offered / elapsed:.0f} lines/s")
    print(f"  append of {batch_size} lines: p50 {statistics.median(appends):.2f} ms, p99 {pct(appends, 99):.2f} ms")
    print(f"  read -n 50 while ingesting: p50 {statistics.median(reads):.2f} ms, max {max(reads):.2f} ms")


# ---------------------------------------------------------------------------------- helpers
def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def thread_cpu_seconds(prefix: str) -> float:
    """CPU time (user + system) of this process's live threads named prefix* (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for thread in threading.enumerate():
        if not thread.name.startswith(prefix) or thread.native_id is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def process_cpu_seconds(name: str) -> float | None:
    """CPU time (user + system) of the one process of this host named `name` (e.g. dockerd,
    which serves the collector's log streams), or None when there is not exactly one."""
    pids = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _comm(p) == name]
    if len(pids) != 1:
        return None
    try:
        fields = (pids[0] / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


class Arrivals:
    """What the collector's writer stored, seen where it hands the new lines on (after the
    commit, before the drains): the printer's sequence numbers and each line's lag."""

    def __init__(self, forward: Callable[[list[LogLine]], None], source: str):
        self.forward, self.source = forward, source
        self.lags: list[float] = []
        self.seen: set[int] = set()
        self.router_lines = 0
        self.done: int | None = None
        self.first = threading.Event()

    def __call__(self, lines: list[LogLine]) -> None:
        now = time.time()
        for line in lines:
            if line.source == self.source:
                if line.text.startswith("bench-done "):
                    self.done = int(line.text.split()[1])
                    continue
                self.seen.add(int(line.text.split(" ", 2)[1]))
                self.lags.append(now - line.ts)
                self.first.set()
            elif line.source == "router":
                self.router_lines += 1
        self.forward(lines)


# ---------------------------------------------------------------------------------- child processes
def _serve_backend(ready, stop) -> None:
    """The routed app (a stdlib HTTP server answering its name), in a process of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends it (also on Ctrl-C)
    from tests.integration.test_router import Backend

    backend = Backend("bench")
    ready.send(backend.port)
    stop.wait()
    backend.close()


def _request_stream(http_port: int, host: str, rate: float, results, stop) -> None:
    """Paced keep-alive GETs through Traefik; (wall time, seconds, status) of each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    client = RouterClient(RouterAddress(http_port=http_port))
    samples: list[tuple[float, float, int | None]] = []
    interval, due = 1.0 / rate, time.monotonic()
    while not stop.is_set():
        began = time.perf_counter()
        status = client.status(host)
        samples.append((time.time(), time.perf_counter() - began, status))
        due += interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            due = time.monotonic()  # fell behind (a slow request): no burst to catch up
    client.close()
    results.send(samples)


# ---------------------------------------------------------------------------------- 2. end to end
@dataclasses.dataclass
class Phase:
    rate: int
    collector_on: bool
    window: tuple[float, float]  # wall times whose request samples belong to this phase
    written: int = 0
    arrivals: Arrivals | None = None
    cpu_percent: float = 0.0
    dockerd_percent: float | None = None


class EndToEnd:
    def __init__(self, args: argparse.Namespace, data_dir: Path):
        token = uuid.uuid4().hex[:8]
        self.args = args
        self.settings = dataclasses.replace(
            Settings.from_env(), kv_prefix=f"paas-bench-{token}", data_dir=data_dir, git_dir=data_dir / "git",
            controller_route=False)
        if self.settings.router_access_log is None:
            print("  (PAAS_ROUTER_ACCESS_LOG unset: no router lines are collected)")
        self.services: Services = build_services(self.settings)
        self.docker = docker.DockerClient(base_url=self.settings.docker_host) if self.settings.docker_host \
            else docker.from_env()
        self.consul = connect(self.settings.consul_addr, self.settings.consul_token)
        self.app = f"bench-{token[:6]}"
        self.host = tags.app_hosts(self.app, [], self.settings.platform_domain)[0]
        self.instance_id = f"{self.settings.kv_prefix}-{self.app}-web-1"
        self.collector: LogCollector | None = None
        self.children: list[multiprocessing.Process] = []
        self.stop_children = multiprocessing.get_context("spawn").Event()

    # ------------------------------------------------------------ setup
    def start_backend(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        ready_recv, ready_send = spawn.Pipe(duplex=False)
        backend = spawn.Process(target=_serve_backend, args=(ready_send, self.stop_children), daemon=True)
        backend.start()
        self.children.append(backend)
        if not ready_recv.poll(30):
            raise TimeoutError("the backend process did not start")
        port = ready_recv.recv()
        self.consul.agent.service.register(
            names.service(self.app), service_id=self.instance_id, address="127.0.0.1", port=port,
            tags=tags.live_tags(self.app, 1, [self.host]),
            check={"HTTP": f"http://127.0.0.1:{port}/health", "Interval": "1s", "Timeout": "1s"})
        probe = RouterClient(RouterAddress(http_port=self.settings.http_port))
        try:
            wait_until(lambda: probe.status(self.host) == 200, 30, message="the route to the backend", interval=0.1)
        finally:
            probe.close()

    def start_requests(self):
        spawn = multiprocessing.get_context("spawn")
        results_recv, results_send = spawn.Pipe(duplex=False)
        stream = spawn.Process(target=_request_stream, daemon=True, args=(
            self.settings.http_port, self.host, self.args.request_rate, results_send, self.stop_children))
        stream.start()
        self.children.append(stream)
        return results_recv

    # ------------------------------------------------------------ one phase
    def printer(self, rate: int, seconds: float):
        name = f"{self.settings.kv_prefix}-{self.app}-web-v1-{uuid.uuid4().hex[:6]}"
        labels = {f"{LABEL}.platform": self.settings.kv_prefix, f"{LABEL}.app": self.app,
                  f"{LABEL}.role": "instance", f"{LABEL}.type": "web"}
        return self.docker.containers.run(
            IMAGE, ["python3", "-c", PRINTER, str(rate), str(seconds), str(self.args.line_bytes)], detach=True,
            name=name, labels=labels, user=self.settings.app_user,
            log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}})

    def phase(self, rate: int, collector_on: bool) -> Phase:
        seconds = SETTLE + self.args.phase_seconds
        position = self.settings.log_history_path.parent / "router-position.json"
        position.unlink(missing_ok=True)  # each collector starts at the access log's end, as a first one does
        arrivals = None
        if collector_on:
            self.collector = self.services.log_collector()
            assert self.collector is not None, "the log collector needs PAAS_SCHEDULER=docker"
            self.collector.start()
            wait_until(lambda: self.collector.collecting, 10, message="the collector collecting")
        container = self.printer(rate, seconds)
        try:
            source = f"web.{container.name.rsplit('-', 1)[-1]}"
            if self.collector is not None:
                arrivals = Arrivals(self.collector.forward, source)
                self.collector.forward = arrivals
                arrivals.first.wait(10)
            else:
                wait_until(lambda: container.logs(tail=1), 10, message="the printer's first line")
            begun = time.time()
            cpu_before, dockerd_before = thread_cpu_seconds("paas-log"), process_cpu_seconds("dockerd")
            time.sleep(seconds - (time.time() - begun))  # the phase runs; requests go on in their process
            cpu, dockerd_after = thread_cpu_seconds("paas-log") - cpu_before, process_cpu_seconds("dockerd")
            ended = time.time()
            result = Phase(rate, collector_on, (begun + SETTLE, ended), arrivals=arrivals,
                           cpu_percent=100 * cpu / (ended - begun))
            if dockerd_before is not None and dockerd_after is not None:
                result.dockerd_percent = 100 * (dockerd_after - dockerd_before) / (ended - begun)
            result.written = int(wait_until(lambda: _done_count(container), DRAIN_TIMEOUT,
                                            message="the printer's last line", interval=0.2))
            if arrivals is not None:
                try:
                    wait_until(lambda: arrivals.done is not None, DRAIN_TIMEOUT, message="the last line stored",
                               interval=0.1)
                except TimeoutError:
                    print(f"  ! the collector had not stored the last line {DRAIN_TIMEOUT:.0f}s after the phase")
        finally:
            if self.collector is not None:
                self.collector.stop()
                self.collector = None
            container.remove(force=True)
        return result

    # ------------------------------------------------------------ the run
    def run(self) -> list[tuple[Phase, list[tuple[float, float, int | None]]]]:
        print(f"end to end: platform {self.settings.kv_prefix}, app {self.app} routed at "
              f"http://{self.host}:{self.settings.http_port}/, {self.args.request_rate:.0f} requests/s")
        self.start_backend()
        results = self.start_requests()
        time.sleep(1.0)  # the request stream's own warm-up (interpreter start, first connection) is not a phase
        phases: list[Phase] = []
        for rate in self.args.rates:
            for pair in range(self.args.pairs):
                order = (False, True) if pair % 2 == 0 else (True, False)  # off,on,on,off,...: drift cancels
                for collector_on in order:
                    phase = self.phase(rate, collector_on)
                    phases.append(phase)
                    print(f"  {rate} lines/s, collector {'on ' if collector_on else 'off'}: done")
        self.stop_children.set()
        if not results.poll(30):
            raise TimeoutError("the request stream sent no results")
        samples = results.recv()
        return [(p, [s for s in samples if p.window[0] <= s[0] < p.window[1]]) for p in phases]

    def cleanup(self) -> None:
        if self.collector is not None:
            self.collector.stop()
        for container in self.docker.containers.list(
                all=True, filters={"label": f"{LABEL}.platform={self.settings.kv_prefix}"}):
            container.remove(force=True)
        try:
            self.consul.agent.service.deregister(self.instance_id)
        finally:
            self.consul.kv.delete(f"{self.settings.kv_prefix}/", recurse=True)
            self.stop_children.set()
            for child in self.children:
                child.join(5)
                if child.is_alive():
                    child.terminate()


def _done_count(container) -> int | None:
    last = container.logs(tail=1).decode(errors="replace").strip()
    return int(last.split()[1]) if last.startswith("bench-done ") else None


def report(measured: list[tuple[Phase, list[tuple[float, float, int | None]]]], args: argparse.Namespace) -> None:
    for rate in args.rates:
        on = [(p, s) for p, s in measured if p.rate == rate and p.collector_on]
        off = [(p, s) for p, s in measured if p.rate == rate and not p.collector_on]
        written = sum(p.written for p, _ in on)
        stored = sum(len(p.arrivals.seen & set(range(p.written))) for p, _ in on if p.arrivals)
        lags = [lag * 1000 for p, _ in on if p.arrivals for lag in p.arrivals.lags]
        router_lines = sum(p.arrivals.router_lines for p, _ in on if p.arrivals)
        seconds = args.phase_seconds + SETTLE
        print(f"\n{rate} lines/s of {args.line_bytes + 10}-byte lines, {len(on)} x {seconds:.0f} s collected, "
              f"{len(off)} x {seconds:.0f} s not:")
        print(f"  lines written {written}, stored {stored} (missing {written - stored}); "
              f"router lines stored {router_lines}")
        print(f"  ingestion lag (Docker timestamp -> stored): p50 {pct(lags, 50):.0f} ms, "
              f"p99 {pct(lags, 99):.0f} ms, max {max(lags, default=float('nan')):.0f} ms")
        cpu = [p.cpu_percent for p, _ in on]
        print(f"  collector CPU (threads paas-log-*): {statistics.fmean(cpu):.0f}% of one core "
              f"(phases: {', '.join(f'{c:.0f}%' for c in cpu)})")
        dockerd = {label: [p.dockerd_percent for p, _ in group if p.dockerd_percent is not None]
                   for label, group in (("off", off), ("on", on))}
        if dockerd["on"] and dockerd["off"]:
            print(f"  dockerd CPU (the whole daemon, shared): {statistics.fmean(dockerd['on']):.0f}% collector on, "
                  f"{statistics.fmean(dockerd['off']):.0f}% off")
        lat = {label: [s[1] * 1000 for _, samples in group for s in samples if s[2] == 200]
               for label, group in (("off", off), ("on", on))}
        failed = sum(1 for _, samples in on + off for s in samples if s[2] != 200)
        print(f"  latency through Traefik ({len(lat['off'])} requests off, {len(lat['on'])} on, {failed} failed):")
        for label in ("off", "on"):
            values = lat[label]
            print(f"    collector {label:3s}  p50 {pct(values, 50):6.2f} ms  p99 {pct(values, 99):6.2f} ms  "
                  f"mean {statistics.fmean(values) if values else float('nan'):6.2f} ms")
        per_phase = ", ".join(f"{'on' if p.collector_on else 'off'} {pct([x[1] * 1000 for x in s], 50):.2f}"
                              for p, s in measured if p.rate == rate)
        print(f"    p50 difference (on - off): {pct(lat['on'], 50) - pct(lat['off'], 50):+.2f} ms "
              f"(p50 per phase in order: {per_phase})")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-seconds", type=float, default=5.0, help="the store alone (0: skip)")
    parser.add_argument("--store-rate", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50, help="store alone: lines per append")
    parser.add_argument("--rates", default="2000,5000", help="lines per second the app prints, one run each")
    parser.add_argument("--phase-seconds", type=float, default=10.0, help="each phase's measured length")
    parser.add_argument("--pairs", type=int, default=2, help="off/on phase pairs per rate")
    parser.add_argument("--request-rate", type=float, default=200.0, help="requests per second through Traefik")
    parser.add_argument("--line-bytes", type=int, default=90, help="padding per printed line")
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",") if r.strip()]
    if not (all(1 <= r <= 50_000 for r in args.rates) and 1 <= args.phase_seconds <= 120 and 1 <= args.pairs <= 10
            and 1 <= args.request_rate <= 2000 and 0 <= args.line_bytes <= 4000):
        parser.error("rates 1..50000, --phase-seconds 1..120, --pairs 1..10, --request-rate 1..2000, "
                     "--line-bytes 0..4000 (a bounded benchmark on a shared machine)")
    # SIGTERM ends the run like Ctrl-C does: through the cleanup below.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.store_seconds > 0:
        bench_store(args.store_seconds, args.store_rate, args.batch)
        print()
    with tempfile.TemporaryDirectory(prefix="paas-bench-logs-") as tmp:
        bench = EndToEnd(args, Path(tmp))
        try:
            measured = bench.run()
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up")
            raise SystemExit(130) from None
        finally:
            bench.cleanup()
    report(measured, args)


if __name__ == "__main__":
    main()
