"""The Build stage against the real Docker engine and registry: every sample app builds, is pushed
and answers HTTP 200; failures are clear and release nothing; the cache makes rebuilds cheap."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from paas.domain.builds import new_build_id
from paas.domain.errors import BuildFailed
from paas.wiring import build_services

from ..conftest import unique
from .builder_support import build_network_cleanup, copy_app, registry_tags, running  # noqa: F401

pytestmark = pytest.mark.usefixtures("build_network_cleanup")


@pytest.fixture
def owner(services, make_user):
    return services.auth.authenticate(make_user("builder").token)


@pytest.fixture
def app_name(services, owner):
    name = unique("b")
    services.apps.create(owner, name)
    yield name
    services.apps.destroy(owner, name)


def build(services, app, owner, source, **kw):
    lines: list[str] = []
    result = services.builds.create_from_source(app, owner, source, lines.append, **kw)
    return result, lines


@pytest.mark.parametrize("sample,expect", [
    ("flask", "Hello"),
    ("express", "Express"),
    ("static", "<html"),
    ("dockerfile", "Dockerfile"),
])
def test_sample_app_builds_pushes_and_answers(services, owner, app_name, docker_client, tmp_path, sample, expect):
    source = copy_app(sample, tmp_path)
    (build_record, release), lines = build(services, app_name, owner, source, git_sha="a" * 40)
    assert release.version == 2 and release.build_id == build_record.id
    assert build_record.image == f"{services.settings.registry}/{app_name}:{build_record.id}"
    assert build_record.digest.startswith("sha256:")
    assert build_record.id in registry_tags(app_name)
    assert "web" in release.procfile
    assert any(line.startswith("-----> ") for line in lines)
    # What the user can read later with builds:info.
    assert services.builds.log(app_name, build_record.id).count("\n") >= len(lines)
    with running(docker_client, build_record.image) as url:
        response = requests.get(url + "/", timeout=5)
        assert response.status_code == 200
        assert expect.lower() in response.text.lower()


def test_flask_worker_type_comes_from_the_procfile(services, owner, app_name, docker_client, tmp_path):
    (build_record, release), _ = build(services, app_name, owner, copy_app("flask", tmp_path))
    assert set(release.procfile) == {"web", "worker"}
    assert {p for p in services.formation.get(app_name).processes} == {"web", "worker"}


@pytest.mark.parametrize("sample,tool_error", [
    ("broken-python", "paas-no-such-package"),
    ("broken-node", "JSON"),
])
def test_failing_build_shows_the_tools_error_and_releases_nothing(
    services, owner, app_name, docker_client, tmp_path, sample, tool_error
):
    lines: list[str] = []
    with pytest.raises(BuildFailed):
        services.builds.create_from_source(app_name, owner, copy_app(sample, tmp_path), lines.append)
    assert tool_error.lower() in "\n".join(lines).lower()
    assert services.releases.current(app_name).version == 1
    assert registry_tags(app_name) == []
    failed = services.builds.list(app_name)[0]
    assert failed.status == "failed" and failed.error


def test_undetectable_app_lists_what_is_supported(services, owner, app_name, docker_client, tmp_path):
    with pytest.raises(BuildFailed) as caught:
        build(services, app_name, owner, copy_app("undetectable", tmp_path))
    message = str(caught.value)
    for supported in ("Python", "Node.js", "static", "Procfile", "Dockerfile"):
        assert supported in message
    assert services.releases.current(app_name).version == 1


def test_code_only_rebuild_reuses_the_dependency_cache_and_layer(
    services, owner, app_name, docker_client, tmp_path
):
    source = copy_app("flask", tmp_path)
    (first, _), _ = build(services, app_name, owner, source)
    app_py = source / "app.py"
    app_py.write_text(app_py.read_text() + "\n# a code-only change\n")
    (second, _), lines = build(services, app_name, owner, source)
    log = "\n".join(lines)
    assert "Reusing cached dependencies" in log
    assert "Installing" not in log or "Reusing" in log
    first_layers = docker_client.images.get(first.image).attrs["RootFS"]["Layers"]
    second_layers = docker_client.images.get(second.image).attrs["RootFS"]["Layers"]
    # Same stack, same launcher, same dependency layer; only the app-code layer differs.
    assert first_layers[:-1] == second_layers[:-1]
    assert first_layers[-1] != second_layers[-1]


def test_config_vars_reach_compile_through_env_dir_and_custom_buildpacks(
    services, settings, owner, app_name, docker_client, tmp_path
):
    pack = tmp_path / "greeting-pack"
    (pack / "bin").mkdir(parents=True)
    (pack / "bin" / "detect").write_text("#!/bin/bash\necho Greeting\n")
    (pack / "bin" / "compile").write_text(
        '#!/bin/bash\nset -e\necho "-----> Baking the greeting"\nmkdir -p "$1/public"\n'
        'cp "$3/GREETING" "$1/public/index.html"\n'
    )
    (pack / "bin" / "release").write_text(
        "#!/bin/bash\nprintf 'default_process_types:\\n  web: busybox httpd -f -p $PORT -h /app/public\\n'\n"
    )
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    services.config.change(app_name, owner, {"GREETING": "hello from ENV_DIR", "BUILDPACK_URL": str(pack)})
    source = tmp_path / "src"
    source.mkdir()
    (source / "README").write_text("nothing to detect")
    # A host directory is a buildpack only when the operator allows it (PAAS_BUILDPACK_DIRS).
    allowed = build_services(replace(settings, buildpack_dirs=(tmp_path,)))
    (build_record, release), lines = build(allowed, app_name, owner, source)
    assert "hello from ENV_DIR" not in "\n".join(lines)
    with running(docker_client, build_record.image) as url:
        assert requests.get(url + "/", timeout=5).text.strip() == "hello from ENV_DIR"


def test_a_build_that_runs_too_long_is_stopped_with_a_clear_error(
    services, settings, owner, app_name, docker_client, tmp_path
):
    pack = tmp_path / "slow-pack"
    (pack / "bin").mkdir(parents=True)
    (pack / "bin" / "detect").write_text("#!/bin/bash\necho Slow\n")
    (pack / "bin" / "compile").write_text("#!/bin/bash\necho '-----> Thinking'\nsleep 600\n")
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    source = tmp_path / "src"
    source.mkdir()
    (source / ".buildpacks").write_text(f"{pack}\n")
    impatient = build_services(replace(settings, build_timeout=3, buildpack_dirs=(tmp_path,)))
    with pytest.raises(BuildFailed, match="timed out after"):
        impatient.builds.create_from_source(app_name, owner, source, lambda line: None)
    assert services.releases.current(app_name).version == 1
    assert not docker_client.containers.list(all=True, filters={"label": f"paas.app={app_name}"})


def test_a_build_runs_unprivileged_and_the_image_runs_as_the_app_user(
    services, settings, owner, app_name, docker_client, tmp_path
):
    (build_record, _), _ = build(services, app_name, owner, copy_app("flask", tmp_path))
    config = docker_client.images.get(build_record.image).attrs["Config"]
    assert config["User"] == settings.app_user
    out = docker_client.containers.run(build_record.image, ["touch /app/written && stat -c %u:%g /app /app/.venv"],
                                       remove=True, labels={"paas.test": "builder"})
    assert out.decode().split() == [settings.app_user, settings.app_user]


def test_old_images_are_pruned_and_remove_app_forgets_everything(
    services, settings, owner, app_name, docker_client, tmp_path
):
    # The builder alone, with no release: the session's controller deploys every release of
    # this KV prefix, and an image a container runs is rightly never pruned.
    frugal = build_services(replace(settings, keep_images=1))
    builder, logs = frugal.builds.builder, frugal.builds.logs
    source = copy_app("static", tmp_path)

    def build_once() -> tuple[str, str]:
        build_id = new_build_id()
        built = builder.build(app_name, build_id, source, {}, lambda line: logs.append(app_name, build_id, line))
        return build_id, built.image

    first_id, _ = build_once()
    (source / "index.html").write_text((source / "index.html").read_text() + "\n<!-- v2 -->\n")
    second_id, second_image = build_once()
    local = {tag for image in docker_client.images.list(name=f"{settings.registry}/{app_name}") for tag in image.tags}
    # The newest build, and the one dependency image it is built on (local only, never pushed).
    deps = {tag for tag in local if tag.rpartition(":")[2].startswith("deps-")}
    assert local - deps == {second_image} and len(deps) == 1
    assert set(registry_tags(app_name)) == {first_id, second_id}
    assert logs.read(app_name, second_id)

    builder.remove_app(app_name)
    assert not docker_client.images.list(name=f"{settings.registry}/{app_name}")
    assert registry_tags(app_name) == []
    assert not (settings.data_dir / "cache" / app_name).exists()
    assert not (settings.data_dir / "cache" / f"{app_name}.lock").exists()
    assert not (settings.data_dir / "logs" / app_name).exists()
    assert not logs.read(app_name, second_id)
