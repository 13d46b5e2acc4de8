"""How fast the log history stores lines: one app's lines in batches (as a collector following
Docker's log stream appends them), then `-n 50` reads while it ingests. Prints figures; asserts
nothing. Not yet measured: router latency with the collector running (the collector is not
wired into the controller yet, see docs/design.md "Log history").

    .venv/bin/python scripts/bench_logs.py [--seconds 5] [--rate 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from paas.domain.logs import LogLine
from paas.logstore.sqlite import SqliteLogStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=2000, help="lines per second offered")
    parser.add_argument("--batch", type=int, default=50, help="lines per append (one Docker read)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteLogStore(Path(tmp) / "lines.sqlite3", max_lines=20_000, max_age=3600)
        appends, reads, offered = [], [], 0
        start = time.monotonic()
        while time.monotonic() - start < args.seconds:
            due = int((time.monotonic() - start) * args.rate)
            if offered >= due:
                time.sleep(0.001)
                continue
            batch = [LogLine(time.time(), "bench", f"web.{i % 3:06x}", "web", f"line {offered + i} " + "x" * 80)
                     for i in range(args.batch)]
            began = time.perf_counter()
            store.append(batch, origin="c")
            appends.append((time.perf_counter() - began) * 1000)
            offered += len(batch)
            if len(appends) % 10 == 0:
                began = time.perf_counter()
                store.read("bench", 50)
                reads.append((time.perf_counter() - began) * 1000)
        elapsed = time.monotonic() - start
    print(f"offered {args.rate} lines/s for {elapsed:.1f}s: stored {offered} lines = {offered / elapsed:.0f} lines/s")
    print(f"append of {args.batch} lines: p50 {statistics.median(appends):.2f} ms, "
          f"p99 {statistics.quantiles(appends, n=100)[98]:.2f} ms")
    print(f"read -n 50 while ingesting: p50 {statistics.median(reads):.2f} ms, max {max(reads):.2f} ms")


if __name__ == "__main__":
    main()
