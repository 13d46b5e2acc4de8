"""The router's access log stays bounded: a reader past PAAS_ROUTER_ACCESS_LOG_MAX_BYTES renames
it and signals the writer, which reopens it (Traefik's SIGUSR1 contract, played by a real
process here: an O_APPEND writer that reopens its file on SIGUSR1), and no reader of the
file, the rotating one or another platform's, loses or repeats a line."""

from __future__ import annotations

import json
import subprocess
import sys

from paas.router.access_log import FileAccessLog, TraefikReopen

from ..conftest import wait_until

LINES = 1500
MAX_BYTES = 16 * 1024
# Traefik's side: append lines; on SIGUSR1 close the file and open the path again.
WRITER = r'''
import json, os, signal, sys, time
path, pid_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
fd = [os.open(path, flags, 0o644)]
def reopen(*_):
    os.close(fd[0])
    fd[0] = os.open(path, flags, 0o644)
signal.signal(signal.SIGUSR1, reopen)
with open(pid_file + ".tmp", "w") as out:
    out.write(str(os.getpid()))
os.replace(pid_file + ".tmp", pid_file)
for n in range(count):
    os.write(fd[0], (json.dumps({"n": n, "RequestPath": "/" + "x" * 100}) + "\n").encode())
    if n % 2 == 0:
        time.sleep(0.005)  # ~400 lines/s: a file fills in ~0.3 s, so a reader two rotations behind
                           # (which loses lines: only one renamed file is kept) needs a 0.6-s stall
'''


def test_a_rotated_access_log_stays_bounded_and_every_reader_gets_every_line_once(tmp_path):
    path, pid_file = tmp_path / "access.log", tmp_path / "traefik.pid"
    path.touch()
    rotating = FileAccessLog(path, tmp_path / "rotating.json", MAX_BYTES, TraefikReopen(pid_file))
    other = FileAccessLog(path, tmp_path / "other.json")  # another platform's collector: never rotates
    seen: dict[str, list[int]] = {"rotating": [], "other": []}
    for reader in (rotating, other):
        assert reader.read_new(100) == []  # from the (empty) end
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(pid_file), str(LINES)])
    largest = 0

    def read_all() -> bool:
        nonlocal largest
        for name, reader in (("rotating", rotating), ("other", other)):
            seen[name] += [json.loads(line)["n"] for line in reader.read_new(5000)]
        for file in (path, rotating.rotated):
            if file.exists():
                largest = max(largest, file.stat().st_size)
        return writer.poll() is not None and all(len(n) >= LINES for n in seen.values())

    try:
        wait_until(read_all, timeout=60, interval=0.01, message="every line read by both readers")
    finally:
        writer.kill()
        writer.wait()
    assert seen["rotating"] == list(range(LINES))
    assert seen["other"] == list(range(LINES))
    assert rotating.rotated.exists(), "never rotated"
    total = LINES * len(json.dumps({"n": LINES, "RequestPath": "/" + "x" * 100}) + "\n")
    assert largest < total / 3, (largest, total)  # bounded by the rotation, not the whole log
