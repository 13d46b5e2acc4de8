#!/usr/bin/env python3
"""Run stage v2 reaction times (issue 11), in-process with a supervisor on the real Docker and Consul.

Prints: how long after `config:set` a release whose HTTP check answers 503 is failed (an upper
bound on "after the canary's first answer"), and how long after the new release went live
(promotion) `config:set` returns when the app's worker ignores SIGTERM (stop_timeout 20 s).
Needs the services running (scripts/services.sh start).

    .venv/bin/python scripts/bench_run_stage.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from paas.config import Settings  # noqa: E402
from paas.wiring import build_services  # noqa: E402
from tests.integration.builder_support import sample_image  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402

WEB = "gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app"
STUBBORN = ("python -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "[time.sleep(1) for _ in iter(int, 1)]'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = replace(Settings.from_env(), kv_prefix=f"paas-bench-rs-{uuid.uuid4().hex[:6]}")
    services = build_services(settings)
    user, _ = services.auth.register("bench" + uuid.uuid4().hex[:6], "correct-horse-battery")
    supervisor = services.supervisor("bench-run-stage")
    supervisor.start()
    apps: list[str] = []
    with sample_image(services.builds.builder, docker.from_env(), "flask", "paas-bench/flask") as (image, _):
        try:
            def app_with(procfile: dict[str, str]) -> str:
                name = "rs-" + uuid.uuid4().hex[:6]
                services.apps.create(user, name)
                apps.append(name)
                _, release = services.builds.create_from_image(name, user, image, procfile)
                assert services.deploys.wait(name, release.version).promoted
                return name

            failing = app_with({"web": WEB})
            before = services.deploys.current(failing)
            services.formation.change(failing, healthchecks={"web": "/health"})
            services.deploys.wait(failing, None, after=before.id)
            fail_times = []
            for i in range(args.rounds):
                start = time.monotonic()
                release = services.config.change(failing, user, {"HEALTH_STATUS": "503", "N": str(i)})
                deployment = services.deploys.wait(failing, release.version)
                fail_times.append(time.monotonic() - start)
                assert deployment.status == "failed", deployment.description
                print(f"  503 check: failed {fail_times[-1]:.2f} s after config:set: {deployment.description}")
                # Nothing to undo: the failed release never went live, and the next change builds on the live one.
            print(f"a 503 check fails the deploy: median {statistics.median(fail_times):.2f} s after config:set "
                  f"(container start included; healthy_deadline is 60 s)")

            stubborn = app_with({"web": WEB, "worker": STUBBORN})
            services.formation.change(stubborn, quantities={"worker": 1}, update={"stop_timeout": 20})
            wait_until(lambda: any(i.type == "worker" and i.state == "running"
                                   for i in services.deploys.instances(stubborn)), timeout=60, message="the worker")
            after_live = []
            for i in range(args.rounds):
                release = services.config.change(stubborn, user, {"N": str(i)})
                deployment = services.deploys.wait(stubborn, release.version)
                returned = time.time()
                after_live.append(returned - deployment.live_since)
                print(f"  worker ignoring SIGTERM: config:set returned {after_live[-1]:.2f} s after v{release.version} "
                      f"went live (phase {deployment.phase})")
            print(f"config:set returns after the release goes live: median {statistics.median(after_live):.2f} s "
                  f"(the old worker's SIGKILL comes 20 s later)")
        finally:
            for name in apps:
                services.apps.destroy(user, name)
            supervisor.stop()


if __name__ == "__main__":
    main()
