"""Findings 1, 3 and 4: what a tenant's source or build writes is data, never a host path the
controller follows.

1. `.paas/layers` naming an absolute host directory: the push fails with a clear message and the
   host directory is still there, untouched.
3. A Procfile that is a symlink to a host file (committed, or made by a build step): refused;
   the host file's content appears nowhere (push output, build log, release).
4. `.buildpacks` / BUILDPACK_URL naming a host directory: refused unless the operator allows it.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from paas.domain.errors import BuildFailed
from paas.wiring import build_services

from ..conftest import unique
from ..e2e.conftest import sample_repo
from ..integration.builder_support import build_network_cleanup  # noqa: F401

pytestmark = pytest.mark.usefixtures("build_network_cleanup")


@pytest.fixture
def host_dir():
    """A directory of the host, outside every workspace, with a secret in it."""
    path = Path("/var/tmp") / unique("paas-host")
    path.mkdir()
    secret = f"HOST-SECRET-{uuid.uuid4().hex}"
    (path / "secret.txt").write_text(f"web: echo {secret}\n")
    yield path, secret
    shutil.rmtree(path, ignore_errors=True)


def push(pusher, gateway, app: str, repo: Path) -> tuple[int, str]:
    subprocess.run(["git", "remote", "add", "paas", gateway.url(app)], cwd=repo, check=True)
    result = pusher.git(repo, "push", "paas", "main", check=False)
    return result.returncode, result.stdout + result.stderr


def commit(pusher, repo: Path, message: str) -> None:
    pusher.git(repo, "add", "-A")
    pusher.git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


def assert_nothing_leaked(services, app: str, secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text
    for build in services.builds.list(app):
        assert secret not in (services.builds.log(app, build.id) or "")
        assert secret not in str(build.procfile)
    assert services.releases.current(app).version == 1


def test_layers_naming_a_host_directory_fail_the_push_and_leave_it_alone(services, gateway, tenant, host_dir,
                                                                      tmp_path):
    pusher, _, app = tenant
    path, secret = host_dir
    repo = sample_repo("flask", tmp_path)
    (repo / ".paas").mkdir()
    (repo / ".paas" / "layers").write_text(f"{path}\n../../../../{str(path).lstrip('/')}\n")
    commit(pusher, repo, "layers")
    status, output = push(pusher, gateway, app, repo)
    assert status != 0, output
    assert ".paas/layers names paths that are refused" in output, output
    assert str(path) in output
    assert (path / "secret.txt").read_text() == f"web: echo {secret}\n"
    assert_nothing_leaked(services, app, secret, output)


def test_a_committed_procfile_symlink_to_a_host_file_is_refused(services, gateway, tenant, host_dir, tmp_path):
    pusher, _, app = tenant
    path, secret = host_dir
    repo = sample_repo("flask", tmp_path)
    (repo / "Procfile").unlink()
    (repo / "Procfile").symlink_to(path / "secret.txt")
    commit(pusher, repo, "procfile link")
    status, output = push(pusher, gateway, app, repo)
    assert status != 0, output
    # The gateway hands the source over as a tar archive, whose "data" filter refuses the link
    # before the builder's own check (lstat + O_NOFOLLOW) would.
    assert "refused: 'Procfile' is a link" in output or "Procfile is a symlink, which is refused" in output, output
    assert_nothing_leaked(services, app, secret, output)


def link_pack(root: Path, command: str) -> Path:
    """A buildpack (in a directory the operator allows) whose compile step runs `command`."""
    pack = root / unique("pack")
    (pack / "bin").mkdir(parents=True)
    (pack / "bin" / "detect").write_text("#!/bin/bash\necho Linker\n")
    (pack / "bin" / "compile").write_text(f"#!/bin/bash\nset -e\n{command}\n")
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    return pack


def test_a_build_step_that_links_the_procfile_to_a_host_file_is_refused(services, settings, tenant, host_dir,
                                                                       tmp_path):
    _, owner, app = tenant
    path, secret = host_dir
    pack = link_pack(tmp_path, f'ln -sf {path}/secret.txt "$1/Procfile"\nmkdir -p "$1/.paas"\n'
                               f'ln -sf {path} "$1/.paas/layers"')
    source = tmp_path / "src"
    source.mkdir()
    (source / ".buildpacks").write_text(f"{pack}\n")
    lines: list[str] = []
    allowed = build_services(replace(settings, buildpack_dirs=(tmp_path,)))
    with pytest.raises(BuildFailed, match="is a symlink|symlink") as caught:
        allowed.builds.create_from_source(app, owner, source, lines.append)
    assert_nothing_leaked(services, app, secret, str(caught.value), "\n".join(lines))
    assert (path / "secret.txt").is_file()


def test_buildpacks_file_naming_a_host_directory_is_refused(services, tenant, host_dir, tmp_path):
    _, owner, app = tenant
    path, _ = host_dir
    pack = link_pack(path, "echo compiled")
    source = tmp_path / "src"
    source.mkdir()
    (source / "Procfile").write_text("web: sleep 1\n")
    (source / ".buildpacks").write_text(f"{pack}\n")
    with pytest.raises(BuildFailed, match="host directories are refused .*PAAS_BUILDPACK_DIRS"):
        services.builds.create_from_source(app, owner, source, lambda line: None)
    assert services.releases.current(app).version == 1


@pytest.mark.parametrize("url", ["{pack}", "file://{pack}", "http://127.0.0.1:8500/v1/kv/"])
def test_buildpack_url_naming_a_host_directory_or_host_service_is_refused(services, tenant, host_dir, tmp_path, url):
    _, owner, app = tenant
    path, _ = host_dir
    pack = link_pack(path, "echo compiled")
    services.config.change(app, owner, {"BUILDPACK_URL": url.format(pack=pack)})
    source = tmp_path / "src"
    source.mkdir()
    (source / "Procfile").write_text("web: sleep 1\n")
    with pytest.raises(BuildFailed, match="Buildpack"):
        services.builds.create_from_source(app, owner, source, lambda line: None)
    assert services.releases.current(app).version == 2  # the config change only
