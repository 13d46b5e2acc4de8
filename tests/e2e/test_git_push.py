"""git push over the real OpenSSH gateway: build, release, refusals, failures and races."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import git
import pytest
import requests

from ..conftest import unique, wait_until
from ..integration.builder_support import registry_tags
from .conftest import sample_repo


@pytest.fixture
def alice(make_pusher):
    return make_pusher("alice")


@pytest.fixture
def app(services, alice):
    owner = services.auth.get_user(alice.user.username)
    name = unique("push")
    services.apps.create(owner, name)
    yield name
    services.apps.destroy(owner, name)


def remote_sha(pusher, repo, remote: str) -> str:
    out = pusher.git(repo, "ls-remote", remote, "refs/heads/main").stdout.split()
    return out[0] if out else ""


def push_streaming(pusher, repo, *args: str) -> tuple[int, list[tuple[float, str]], float]:
    """Run git push, timestamping each line of its output as it arrives."""
    proc = subprocess.Popen(["git", "push", *args], cwd=repo, env=pusher.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = [(time.monotonic(), line.rstrip("\n")) for line in proc.stdout]
    proc.wait(timeout=600)
    return proc.returncode, lines, time.monotonic()


def test_first_push_builds_and_releases_with_live_output(services, gateway, alice, app, tmp_path):
    repo = sample_repo("flask", tmp_path)
    subprocess.run(["git", "remote", "add", "paas", gateway.url(app)], cwd=repo, check=True)
    status, lines, finished = push_streaming(alice, repo, "paas", "main")
    text = "\n".join(line for _, line in lines)
    assert status == 0, text
    build_steps = [(at, line) for at, line in lines if line.startswith("remote: -----> ")]
    assert build_steps, text
    # The build log reached the pusher while the push was still running, not all at the end.
    assert finished - build_steps[0][0] > 1.0, text
    assert f"Released v2 of {app}" in text

    sha = git.Repo(repo).head.commit.hexsha
    release = services.releases.current(app)
    assert release.version == 2
    assert services.builds.get(app, release.build_id).git_sha == sha
    assert release.build_id in registry_tags(app)
    assert remote_sha(alice, repo, "paas") == sha
    # And it is live behind the router at <app>.<PAAS_DOMAIN>.
    router = f"http://127.0.0.1:{os.environ.get('PAAS_HTTP_PORT', '8080')}/"
    host = f"{app}.{services.settings.platform_domain}"

    def routed() -> bool:
        try:
            return requests.get(router, headers={"Host": host}, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(routed, timeout=15, message=f"{host} through Traefik")


def test_failing_build_rejects_the_push_and_keeps_the_ref(services, gateway, alice, app, tmp_path):
    good = sample_repo("flask", tmp_path)
    subprocess.run(["git", "remote", "add", "paas", gateway.url(app)], cwd=good, check=True)
    assert alice.git(good, "push", "paas", "main").returncode == 0
    good_sha = git.Repo(good).head.commit.hexsha

    (good / "requirements.txt").write_text("paas-no-such-package-xyz==1.0\n")
    alice.git(good, "commit", "-qam", "break the build")
    result = alice.git(good, "push", "paas", "main", check=False)
    assert result.returncode != 0
    assert "pre-receive hook declined" in result.stderr
    assert "paas-no-such-package-xyz" in result.stderr
    assert remote_sha(alice, good, "paas") == good_sha
    assert services.releases.current(app).version == 2


def test_unknown_key_is_denied(services, gateway, make_pusher, app, tmp_path):
    stranger = make_pusher("stranger", register_key=False)
    repo = sample_repo("static", tmp_path)
    result = stranger.git(repo, "push", gateway.url(app), "main", check=False)
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert services.releases.current(app).version == 1


def test_no_shell_and_no_other_commands(gateway, alice):
    shell = alice.ssh(gateway.port)
    assert shell.returncode != 0 and "no shell access" in shell.stderr
    for command in (["cat", "/etc/passwd"], ["scp", "-t", "/tmp"], ["git-receive-pack", "'../../etc/x.git'"],
                    ["git-upload-pack", "'/srv/other/repo'"], ["git-receive-pack", "'app.git; id'"]):
        result = alice.ssh(gateway.port, *command)
        assert result.returncode != 0, command
        assert "root:" not in result.stdout and "uid=" not in result.stdout
    traversal = alice.ssh(gateway.port, "git-receive-pack", "'../../etc/x.git'")
    assert "Invalid repository path" in traversal.stderr


def test_unknown_app_and_other_users_app(services, gateway, alice, make_pusher, app, tmp_path):
    repo = sample_repo("static", tmp_path)
    nope = unique("nope")
    missing = alice.git(repo, "push", gateway.url(nope), "main", check=False)
    assert missing.returncode != 0 and f"App {nope!r} not found" in missing.stderr
    mallory = make_pusher("mallory")
    denied = mallory.git(repo, "push", gateway.url(app), "main", check=False)
    # Another user's app answers like a missing one (tests/security/test_gateway.py).
    assert denied.returncode != 0 and f"App {app!r} not found" in denied.stderr
    assert services.releases.current(app).version == 1


def test_other_branches_and_deleting_main_are_refused(services, gateway, alice, app, tmp_path):
    repo = sample_repo("static", tmp_path)
    url = gateway.url(app)
    feature = alice.git(repo, "push", url, "main:feature", check=False)
    assert feature.returncode != 0 and "Only pushes to main" in feature.stderr
    assert alice.git(repo, "push", url, "main").returncode == 0
    delete = alice.git(repo, "push", url, ":main", check=False)
    assert delete.returncode != 0 and "Deleting main is not allowed" in delete.stderr
    assert remote_sha(alice, repo, url)
    assert services.releases.current(app).version == 2


def test_two_concurrent_pushes_never_interleave(services, controller, gateway, alice, app, tmp_path):
    first = sample_repo("static", tmp_path)
    url = gateway.url(app)
    assert alice.git(first, "push", url, "main").returncode == 0
    second = tmp_path / "second"
    alice.git(tmp_path, "clone", "-q", url, str(second))
    for path, text in ((first, "one"), (second, "two")):
        (path / "index.html").write_text(f"<html>{text}</html>")
        alice.git(path, "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qam", text)
    results = {}

    def push(path):
        results[path] = alice.git(path, "push", url, "main", check=False)

    threads = [threading.Thread(target=push, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    succeeded = [p for p, r in results.items() if r.returncode == 0]
    refused = [r for r in results.values() if r.returncode != 0]
    # Both were based on the same commit: one wins; the other is told why, by git, clearly.
    assert len(succeeded) == 1, {str(p): r.stderr for p, r in results.items()}
    assert "fetch first" in refused[0].stderr or "non-fast-forward" in refused[0].stderr
    versions = [r.version for r in services.releases.page(app, 1, 100).results]
    assert versions == list(range(len(versions), 0, -1)) and versions[0] == 3
    bare = controller.gateway_dir / "repos" / f"{app}.git"
    subprocess.run(["git", "--git-dir", str(bare), "fsck", "--strict"], check=True, capture_output=True)
    winner = git.Repo(succeeded[0]).head.commit.hexsha
    assert remote_sha(alice, first, url) == winner
    head = services.releases.current(app)
    assert services.builds.get(app, head.build_id).git_sha == winner


def test_pushed_app_is_pullable(gateway, alice, app, tmp_path):
    repo = sample_repo("static", tmp_path)
    assert alice.git(repo, "push", gateway.url(app), "main").returncode == 0
    clone = tmp_path / "clone"
    assert alice.git(tmp_path, "clone", "-q", gateway.url(app), str(clone)).returncode == 0
    assert (clone / "index.html").is_file()


def test_build_source_endpoint_needs_a_tarball(controller, make_user):
    user = make_user()
    app = unique("tar")
    requests.post(f"{controller.url}/v1/apps", json={"name": app}, headers=user.headers, timeout=10)
    response = requests.post(f"{controller.url}/v1/apps/{app}/builds/source", data=b"not a tarball",
                             headers=user.headers, timeout=10)
    assert response.status_code == 400 and "tar archive" in response.json()["message"]
