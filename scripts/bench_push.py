#!/usr/bin/env python3
"""Wall time of `git push` to a released build, through the real SSH gateway, controller,
builder, Docker and registry. Pushes the Flask sample once cold, then N warm pushes of a
code-only change; prints each time and the median.

Needs the services running (scripts/services.sh start) and root (the gateway's sshd).

    .venv/bin/python scripts/bench_push.py [--warm 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import harness  # noqa: E402


def run(*args: str, cwd: Path, env: dict | None = None) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    gateway_dir = Path("/run") / f"paas-bench-{uuid.uuid4().hex[:8]}"
    gateway_dir.mkdir(mode=0o755)
    token_file = gateway_dir / "gateway-token"
    token_file.write_text(uuid.uuid4().hex)
    prefix = f"paas-bench-{uuid.uuid4().hex[:8]}"
    env = {"PAAS_KV_PREFIX": prefix, "PAAS_DATA_DIR": str(work / "data"), "PAAS_GATEWAY_TOKEN_FILE": str(token_file)}
    controller, url = harness.start_controller(env, work / "controller.log")
    sshd = None
    try:
        sshd, port = harness.start_gateway(gateway_dir, url, token_file, work / "sshd.log")
        session = requests.Session()
        token = session.post(f"{url}/v1/auth/register", json={"username": "bench", "password": "bench-pass"}).json()
        session.headers["Authorization"] = f"Bearer {token['token']}"
        key = work / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), cwd=work)
        session.post(f"{url}/v1/keys", json={"public": key.with_suffix(".pub").read_text()}).raise_for_status()
        session.post(f"{url}/v1/apps", json={"name": "bench-flask"}).raise_for_status()

        repo = work / "flask"
        shutil.copytree(harness.REPO / "tests" / "apps" / "flask", repo)
        git_env = {**os.environ, "GIT_SSH_COMMAND": f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                   "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"}
        for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "v1"],
                        ["git", "remote", "add", "paas", f"ssh://git@127.0.0.1:{port}/bench-flask.git"]):
            run(*command, cwd=repo, env=git_env)

        def timed_push() -> float:
            """Seconds from `git push` to the release being recorded; also prints push-to-live
            (the push returns once the rollout is live)."""
            before = session.get(f"{url}/v1/apps/bench-flask").json()["release"]
            recorded: list[float] = []

            def watch() -> None:
                poller = requests.Session()
                poller.headers.update(session.headers)
                while not recorded and not done.is_set():
                    if poller.get(f"{url}/v1/apps/bench-flask").json()["release"] != before:
                        recorded.append(time.perf_counter())
                    time.sleep(0.02)

            done = threading.Event()
            watcher = threading.Thread(target=watch)
            start = time.perf_counter()
            watcher.start()
            run("git", "push", "-q", "paas", "main", cwd=repo, env=git_env)
            live = time.perf_counter() - start
            done.set()
            watcher.join()
            to_release = recorded[0] - start if recorded else live
            print(f"  push -> release v{before + 1} recorded {to_release:.2f} s, live (push returns) {live:.2f} s")
            return to_release

        print("cold push (empty build cache):")
        cold = timed_push()
        warm = []
        print(f"warm pushes (code-only change), {args.warm}x:")
        for i in range(args.warm):
            with (repo / "app.py").open("a") as source:
                source.write(f"\n# change {i}\n")
            run("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", f"change {i}", cwd=repo)
            warm.append(timed_push())
        print(f"push to release recorded: cold {cold:.2f} s; warm median {statistics.median(warm):.2f} s "
              f"(min {min(warm):.2f}, max {max(warm):.2f})")
    finally:
        if sshd:
            harness.stop(sshd)
        harness.stop(controller)
        consul = os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
        consul = consul if "://" in consul else f"http://{consul}"
        requests.delete(f"{consul}/v1/kv/{prefix}/", params={"recurse": "true"}, timeout=10,
                        headers={"X-Consul-Token": os.environ.get("CONSUL_HTTP_TOKEN", "")})
        shutil.rmtree(gateway_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
