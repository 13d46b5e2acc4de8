"""The SSH gateway as a tenant meets it (real sshd, real git): it does not tell another user's app
from a missing one, it matches repository paths whole, and git itself refuses a push larger than
PAAS_MAX_PUSH_BYTES before the hook, a build or a release."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from .. import harness
from ..conftest import unique
from ..e2e.conftest import sample_repo


def refusal(pusher, gateway, app: str, tmp_path: Path) -> tuple[int, str]:
    """git ls-remote of app through the gateway: (exit status, what the user sees)."""
    out = subprocess.run(["git", "ls-remote", gateway.url(app)], cwd=tmp_path, env=pusher.env,
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stderr


def test_another_users_app_answers_like_a_missing_one(gateway, make_pusher, tenant, tmp_path):
    a, _, name = tenant
    b = make_pusher("gwb")
    missing = unique("gw")
    status_foreign, foreign = refusal(b, gateway, name, tmp_path)
    status_missing, absent = refusal(b, gateway, missing, tmp_path)
    assert status_foreign != 0 and status_missing != 0
    assert f"App {name!r} not found" in foreign, foreign
    # Byte for byte the same answer, but for the name asked about.
    assert foreign.replace(name, "APP") == absent.replace(missing, "APP")
    assert "denied" not in foreign.lower()
    # The owner does get in (an empty repo: no refs yet, exit 0).
    assert refusal(a, gateway, name, tmp_path)[0] == 0


@pytest.mark.parametrize("path", ["{app}.git\n", "{app}.git\n/", "/{app}.git\n", "{app}\n.git"])
def test_repository_paths_match_whole(gateway, tenant, path):
    a, _, name = tenant
    quoted = "'" + path.format(app=name) + "'"
    out = a.ssh(gateway.port, "git-upload-pack", quoted)
    assert out.returncode != 0
    assert "Invalid repository path" in out.stderr, out.stderr


@pytest.fixture
def small_gateway(controller, tmp_path, monkeypatch):
    """A second real gateway in front of the same controller, with a 1 MB push limit."""
    directory = Path("/run") / unique("paas-test-gw-limit")
    directory.mkdir(mode=0o755)
    monkeypatch.setenv("PAAS_MAX_PUSH_BYTES", str(1024 * 1024))
    sshd, port = harness.start_gateway(directory, controller.url, controller.gateway_token_file,
                                       tmp_path / "sshd.log")
    yield port, directory
    harness.stop(sshd)
    subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_an_oversized_push_is_refused_by_git(services, tenant, small_gateway, tmp_path):
    a, _, name = tenant
    port, directory = small_gateway
    url = f"ssh://git@127.0.0.1:{port}/{name}.git"
    repo = sample_repo("flask", tmp_path)
    # Random bytes do not compress: the pack is as large as the blob.
    (repo / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    a.git(repo, "add", "blob.bin")
    a.git(repo, "commit", "-q", "-m", "a big blob")
    out = a.git(repo, "push", url, "main", check=False)
    assert out.returncode != 0
    assert "pack exceeds maximum allowed size" in out.stderr, out.stderr
    assert "Building" not in out.stderr  # refused before the hook ran
    assert services.releases.current(name).version == 1  # no build, no release
    assert a.git(repo, "ls-remote", url, check=False).stdout.strip() == ""
    stored = directory / "repos" / f"{name}.git"
    limit = subprocess.run(["git", "config", "--file", str(stored / "config"), "receive.maxInputSize"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert limit == str(1024 * 1024)
    leftover = sum(p.stat().st_size for p in (stored / "objects").rglob("*") if p.is_file())
    assert leftover < 1024 * 1024, "the refused pack was kept"

    # A push under the limit gets through git to the hook (which only deploys main).
    small = sample_repo("flask", tmp_path)
    (small / "note.txt").write_text(uuid.uuid4().hex)
    a.git(small, "add", "note.txt")
    a.git(small, "commit", "-q", "-m", "small")
    out = a.git(small, "push", url, "main:refs/heads/feature", check=False)
    assert out.returncode != 0 and "Only pushes to main" in out.stderr, out.stderr
    assert "exceeds" not in out.stderr
