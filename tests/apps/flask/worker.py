"""Sample background worker: prints a line every few seconds until stopped."""

import os
import signal
import sys
import time

INTERVAL = float(os.environ.get("WORKER_INTERVAL", "3"))
running = True


def stop(signum, _frame):
    global running
    running = False
    print(f"worker: got signal {signum}, stopping", flush=True)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

n = 0
while running:
    n += 1
    print(f"worker: tick {n}", flush=True)
    time.sleep(INTERVAL)
sys.exit(0)
