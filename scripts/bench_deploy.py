#!/usr/bin/env python3
"""Deploy speed, in one run, through the real SSH gateway, controller, builder, Docker, registry,
Consul and Traefik, with the Flask sample (tests/apps/flask). Prints:

- the floor: `docker run` of the release's image until its first HTTP 200;
- code push -> the new version served through the router (median, min, max), idle and under a
  steady request stream (--rate req/s), and when the push command returns;
- config:set -> served, rollback -> served, and the cold first push of a new app;
- the failed requests and the longest gap between two successful responses of the stream;
- the per-phase table (median of each phase of the pushes' timelines);
- with --idle-apps N more apps deployed: code push -> served again, two apps pushed at the same
  moment, the idle CPU of controller, Consul agent and Traefik; and the controller's memory.

Needs the services running (scripts/services.sh start), the stacks, and root (the gateway's sshd).

    .venv/bin/python scripts/bench_deploy.py [--pushes 10] [--rate 200] [--idle-apps 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import harness  # noqa: E402

ROUTER = f"http://127.0.0.1:{os.environ.get('PAAS_HTTP_PORT', '8080')}"
DOMAIN = os.environ.get("PAAS_DOMAIN", "paas.test")
PHASE_LINE = re.compile(r"^remote:\s{7}(.+?)\s{2,}\s*([0-9.]+) s$")


def git(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live children, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_mb(pid: int) -> float:
    total = 0
    for each in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


class Stream:
    """A steady request stream through the router to one host: every response is recorded, so
    'served' is the first answer with a marker, and failures and gaps are counted."""

    def __init__(self, host: str, rate: float, threads: int = 4):
        self.host, self.rate, self.threads = host, rate, threads
        self.results: list[tuple[float, bool, str]] = []  # (monotonic, ok, body)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> Stream:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self, n: int) -> None:
        session = requests.Session()
        session.trust_env = False
        period = self.threads / self.rate
        next_at = time.monotonic() + n * period / self.threads
        while not self._stop.is_set():
            try:
                response = session.get(ROUTER + "/", headers={"Host": self.host}, timeout=5)
                ok = response.status_code == 200
                body = response.text if ok else f"HTTP {response.status_code}: {response.text[:80]}"
            except requests.RequestException as exc:
                ok, body = False, str(exc)
            with self._lock:
                self.results.append((time.monotonic(), ok, body))
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def first(self, marker: str, since: float) -> float | None:
        with self._lock:
            return next((t for t, ok, body in self.results if t >= since and ok and marker in body), None)

    def failure_reasons(self, since: float) -> Counter:
        with self._lock:
            return Counter(body[:100] for t, ok, body in self.results if t >= since and not ok)

    def failures_and_gap(self, since: float) -> tuple[int, int, float]:
        with self._lock:
            window = [(t, ok) for t, ok, _ in self.results if t >= since]
        good = [t for t, ok in window if ok]
        gap = max((b - a for a, b in zip(good, good[1:], strict=False)), default=0.0)
        return len(window), sum(1 for _, ok in window if not ok), gap


def served_by_polling(host: str, marker: str, deadline: float) -> float:
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        try:
            response = session.get(ROUTER + "/", headers={"Host": host}, timeout=2)
            if response.status_code == 200 and marker in response.text:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.02)  # the polling interval of this measurement, not a wait on the platform
    raise TimeoutError(f"{marker} not served through the router")


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> None:  # noqa: C901 - one run, measured step by step
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--idle-apps", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    gateway_dir = Path("/run") / f"paas-bench-{run_id}"
    gateway_dir.mkdir(mode=0o755)
    token_file = gateway_dir / "gateway-token"
    token_file.write_text(uuid.uuid4().hex)
    prefix = f"paas-bench-{run_id}"
    env = {"PAAS_KV_PREFIX": prefix, "PAAS_DATA_DIR": str(work / "data"), "PAAS_GATEWAY_TOKEN_FILE": str(token_file),
           "PAAS_WORKERS": "1"}
    controller, url = harness.start_controller(env, work / "controller.log")
    sshd = None
    apps: list[str] = []
    session = requests.Session()
    session.trust_env = False
    engine = docker.from_env()
    phases: dict[str, list[float]] = defaultdict(list)
    stream: Stream | None = None
    try:
        sshd, port = harness.start_gateway(gateway_dir, url, token_file, work / "sshd.log")
        token = session.post(f"{url}/v1/auth/register", json={"username": "bench", "password": "bench-pass"}).json()
        session.headers["Authorization"] = f"Bearer {token['token']}"
        key = work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        session.post(f"{url}/v1/keys", json={"public": key.with_suffix(".pub").read_text()}).raise_for_status()
        git_env = {**os.environ, "GIT_SSH_COMMAND": f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                   "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"}

        def new_app(name: str) -> Path:
            session.post(f"{url}/v1/apps", json={"name": name}).raise_for_status()
            apps.append(name)
            repo = work / name
            shutil.copytree(harness.REPO / "tests" / "apps" / "flask", repo)
            git("init", "-q", "-b", "main", cwd=repo, env=git_env)
            git("remote", "add", "paas", f"ssh://git@127.0.0.1:{port}/{name}.git", cwd=repo, env=git_env)
            return repo

        outputs: dict[str, str] = {}  # marker -> the push's output

        def push(repo: Path, marker: str, record: bool = True) -> tuple[float, float]:
            """Commit a code change whose responses carry `marker`; seconds from `git push` to
            the marker served through the router, and to the push command's return."""
            source = (harness.REPO / "tests" / "apps" / "flask" / "app.py").read_text()
            (repo / "app.py").write_text(source.replace('"Hello"', f'"{marker}"'))
            git("add", "-A", cwd=repo, env=git_env)
            git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", marker, cwd=repo, env=git_env)
            start = time.monotonic()
            watcher = ThreadPoolExecutor(1).submit(served_by_polling, f"{repo.name}.{DOMAIN}", marker, start + 180)
            done = subprocess.run(["git", "push", "paas", "main"], cwd=repo, env=git_env, capture_output=True,
                                  text=True)
            returned = time.monotonic() - start
            if done.returncode != 0:
                raise RuntimeError(f"push failed:\n{done.stderr[-3000:]}")
            outputs[marker] = done.stderr
            if record:
                for line in done.stderr.splitlines():
                    if (match := PHASE_LINE.match(line.strip())):
                        phases[match.group(1).strip()].append(float(match.group(2)))
            return watcher.result() - start, returned

        # ---------------------------------------------------------------- cold, floor
        repo = new_app(f"bench-{run_id}")
        host = f"{repo.name}.{DOMAIN}"
        cold, cold_return = push(repo, "cold-0", record=False)
        print(f"cold first push of a new app -> served: {cold:.2f} s (push returned after {cold_return:.2f} s)")

        image = session.get(f"{url}/v1/apps/{repo.name}/releases").json()["results"][0]["image"]
        engine.images.get(image).tag(f"paas-bench/flask:{run_id}")  # kept: the idle apps deploy it
        floors = []
        for _ in range(5):
            free = harness.free_port()
            start = time.monotonic()
            container = engine.containers.run(image, ["gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app"],
                                              environment={"PORT": "5000"}, detach=True,
                                              ports={"5000/tcp": ("127.0.0.1", free)})
            try:
                while True:
                    try:
                        if requests.get(f"http://127.0.0.1:{free}/", timeout=1).status_code == 200:
                            break
                    except requests.RequestException:
                        pass
                    time.sleep(0.01)  # polling interval of the floor measurement
                floors.append(time.monotonic() - start)
            finally:
                container.remove(force=True)
        floor = statistics.median(floors)
        print(f"floor (docker run of the release's image until its first 200): {summary(floors)}")

        # ---------------------------------------------------------------- pushes
        idle = [push(repo, f"idle-{i}") for i in range(args.pushes)]
        print(f"code push -> served, idle: {summary([s for s, _ in idle])}; push returns: "
              f"{summary([r for _, r in idle])}")
        stream = Stream(host, args.rate).start()
        began = time.monotonic()
        loaded = [push(repo, f"load-{i}") for i in range(args.pushes)]
        print(f"code push -> served, under {args.rate:g} req/s: {summary([s for s, _ in loaded])}; push returns: "
              f"{summary([r for _, r in loaded])}")

        config_times = []
        for i in range(5):
            start = time.monotonic()
            session.patch(f"{url}/v1/apps/{repo.name}/config", json={"values": {"GREETING": f"cfg-{i}"}}
                          ).raise_for_status()
            served = served_by_polling(host, f"cfg-{i}", start + 120)
            config_times.append(served - start)
        print(f"config:set -> served, under the stream: {summary(config_times)}")

        rollback_times = []
        releases = session.get(f"{url}/v1/apps/{repo.name}/releases").json()["results"]
        for i in range(3):
            version = releases[i + 1]["version"]
            marker = f"cfg-{3 - i}" if i < 3 else "load"
            start = time.monotonic()
            session.post(f"{url}/v1/apps/{repo.name}/releases/rollback", json={"version": version}).raise_for_status()
            rollback_times.append(served_by_polling(host, marker, start + 120) - start)
        print(f"rollback -> served, under the stream: {summary(rollback_times)}")
        total, failed, gap = stream.failures_and_gap(began)
        print(f"request stream during all of it: {total} requests, {failed} failed, longest gap between two "
              f"successful responses {gap * 1000:.0f} ms")
        for reason, count in stream.failure_reasons(began).most_common(3):
            print(f"  {count} x {reason}")

        print("per-phase medians of the pushes' timelines (idle and loaded):")
        for name, values in phases.items():
            print(f"  {name:<36} {statistics.median(values):6.2f} s")
        served = statistics.median([s for s, _ in idle + loaded])
        print(f"code push -> served minus the floor: {served - floor:.2f} s; config:set minus the floor: "
              f"{statistics.median(config_times) - floor:.2f} s")
        stream.stop()
        stream = None

        # ---------------------------------------------------------------- many apps
        # GREETING (set above) would hide the code pushes' markers from here on.
        session.patch(f"{url}/v1/apps/{repo.name}/config", json={"values": {"GREETING": None}}).raise_for_status()
        if args.idle_apps:
            local = f"paas-bench/flask:{run_id}"

            procfile = {"web": "gunicorn --bind 0.0.0.0:$PORT --workers 1 app:app"}

            def deploy_idle(n: int) -> None:
                name = f"bench-{run_id}-idle-{n}"
                session.post(f"{url}/v1/apps", json={"name": name}).raise_for_status()
                apps.append(name)
                body = session.post(f"{url}/v1/apps/{name}/builds", json={"image": local, "procfile": procfile})
                body.raise_for_status()

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(deploy_idle, range(args.idle_apps)))
            print(f"{args.idle_apps} idle apps deployed")
            many = [push(repo, f"many-{i}", record=False) for i in range(max(3, args.pushes // 2))]
            print(f"code push -> served with {args.idle_apps} idle apps: {summary([s for s, _ in many])} "
                  f"(one app: {statistics.median([s for s, _ in idle]):.2f} s)")
            other = new_app(f"bench-{run_id}-b")
            push(other, "b-0", record=False)
            with ThreadPoolExecutor(2) as pool:
                pair = list(pool.map(lambda job: push(*job, record=False), [(repo, "pair-a"), (other, "pair-b")]))
            print(f"two apps pushed at the same moment -> served: {pair[0][0]:.2f} s and {pair[1][0]:.2f} s "
                  f"(a single push: {statistics.median([s for s, _ in many]):.2f} s)")
            for marker in ("pair-a", "pair-b"):
                shown = [f"{m.group(1).strip()} {m.group(2)}" for line in outputs[marker].splitlines()
                         if (m := PHASE_LINE.match(line.strip()))]
                print(f"  {marker}: " + "; ".join(shown))
            pids = {"controller": controller.pid}
            run_dir = Path(os.environ.get("PAAS_RUN_DIR", harness.REPO / ".run"))
            for name in ("consul", "traefik"):
                pid_file = run_dir / f"{name}.pid"
                if pid_file.exists():
                    pids[name] = int(pid_file.read_text())
            time.sleep(5)  # let the last deploys' background stops finish before the idle window
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(args.idle_seconds)  # the measurement window itself
            used = {name: 100 * (cpu_seconds(pid) - before[name]) / args.idle_seconds for name, pid in pids.items()}
            shown = ", ".join(f"{n} {p:.1f} %" for n, p in used.items())
            print(f"idle CPU with {len(apps)} apps over {args.idle_seconds:g} s: {shown}; together "
                  f"{sum(used.values()):.1f} % of one core")
            print(f"controller memory with {len(apps)} apps: {rss_mb(controller.pid):.0f} MB RSS")
    finally:
        if stream:
            stream.stop()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda name: session.delete(f"{url}/v1/apps/{name}"), apps))
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
