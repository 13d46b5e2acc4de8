"""The builder's pure rules for what a tenant's source and build hand back: files read without
following links, .paas/layers, bin/release YAML, buildpack names, the Dockerfile policy, and the
specs of what the builder asks Docker for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paas.builder import build_spec, policy
from paas.builder.buildpacks import BuildpackPlan, fetch_list
from paas.domain.errors import BuildFailed

STACKS = build_spec.stack_names("paas/stack-build:latest", "paas/stack-run:latest")
REGISTRY = "127.0.0.1:5000"


def violations(text: str, local=lambda image: False) -> list[str]:
    return policy.dockerfile_violations(text, REGISTRY, STACKS, local, registry_aliases=("buildhost",))


# ------------------------------------------------------------------ reading untrusted files
def test_read_untrusted_reads_a_regular_file(tmp_path: Path):
    (tmp_path / "Procfile").write_text("web: python app.py\n")
    assert policy.read_untrusted(tmp_path, "Procfile") == "web: python app.py\n"
    assert policy.read_untrusted(tmp_path, "missing") is None


def test_a_symlinked_file_is_refused_and_its_target_never_read(tmp_path: Path):
    secret = tmp_path / "host-secret"
    secret.write_text("root:HASH\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "Procfile").symlink_to(secret)
    with pytest.raises(BuildFailed, match="Procfile is a symlink") as caught:
        policy.read_untrusted(app, "Procfile")
    assert "HASH" not in str(caught.value)


def test_a_symlinked_directory_on_the_way_is_refused(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "layers").write_text(".venv\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / ".paas").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BuildFailed, match="symlink"):
        policy.read_untrusted(app, ".paas/layers")


def test_reads_are_bounded_and_paths_stay_relative(tmp_path: Path):
    (tmp_path / "big").write_bytes(b"x" * (policy.MAX_READ_BYTES + 1))
    with pytest.raises(BuildFailed, match="larger than 64 KiB"):
        policy.read_untrusted(tmp_path, "big")
    for bad in ("/etc/passwd", "../x", "a/../../x"):
        with pytest.raises(BuildFailed):
            policy.read_untrusted(tmp_path, bad)


def test_a_fifo_is_not_read(tmp_path: Path):
    os.mkfifo(tmp_path / "Procfile")
    with pytest.raises(BuildFailed, match="not a regular file"):
        policy.read_untrusted(tmp_path, "Procfile")


# ------------------------------------------------------------------ .paas/layers
def test_layers_accept_only_real_directories_inside_the_app(tmp_path: Path):
    app = tmp_path / "app"
    (app / ".venv").mkdir(parents=True)
    (app / "vendor" / "lib").mkdir(parents=True)
    host = tmp_path / "host-dir"
    host.mkdir()
    (app / "link").symlink_to(host)
    (app / "file").write_text("")
    text = "\n".join([".venv", "./.venv", "vendor/lib", str(host), "../host-dir", "link", "link/x",
                      "file", "node_modules", "# a comment", "with space", ""])
    layers, missing, refused = policy.layer_dirs(app, text)
    assert layers == [".venv", "vendor/lib"]
    assert missing == ["node_modules"]
    joined = "\n".join(refused)
    for entry in (str(host), "../host-dir", "'link'", "link/x", "'file'", "with space"):
        assert entry in joined
    assert host.is_dir()


def test_nested_layers_are_refused(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    layers, _, refused = policy.layer_dirs(tmp_path, "a\na/b\n")
    assert layers == ["a"] and "inside another layer" in refused[0]


# ------------------------------------------------------------------ bin/release
def test_release_yaml_is_parsed_with_a_real_parser():
    text = "---\naddons: []\ndefault_process_types:\n  web: 'busybox httpd -f -p $PORT'\n  worker: python w.py\n"
    assert policy.parse_release(text) == {"web": "busybox httpd -f -p $PORT", "worker": "python w.py"}
    assert policy.parse_release("") == {}
    assert policy.parse_release("config_vars: {A: b}\n") == {}


@pytest.mark.parametrize("text,message", [
    ("default_process_types: [web]\n", "mapping"),
    ("- a\n- b\n", "mapping"),
    ("default_process_types:\n  web: 5\n", "one-line string"),
    ("default_process_types:\n  'bad name': x\n", "invalid process type"),
    ("default_process_types:\n  web: {a: b}\n", "one-line string"),
    ("default_process_types: {web: [\n", "invalid YAML"),
    ("!!python/object/apply:os.system ['id']\n", "invalid YAML"),
])
def test_release_yaml_of_the_wrong_shape_fails_the_build(text: str, message: str):
    with pytest.raises(BuildFailed, match=message):
        policy.parse_release(text)


# ------------------------------------------------------------------ buildpacks
BUILTIN = ("nodejs", "procfile", "python", "static")


@pytest.mark.parametrize("source,kind,location,ref", [
    ("python", "builtin", "python", ""),
    ("https://github.com/heroku/heroku-buildpack-python.git", "git", "https://github.com/heroku/heroku-buildpack-python.git", ""),
    ("https://example.com/pack.git#v1.2", "git", "https://example.com/pack.git", "v1.2"),
    ("ssh://git@example.com/pack.git", "git", "ssh://git@example.com/pack.git", ""),
    ("git@github.com:owner/pack.git", "git", "git@github.com:owner/pack.git", ""),
])
def test_buildpack_sources_that_are_accepted(source, kind, location, ref):
    got = policy.classify_buildpack(source, BUILTIN, ())
    assert (got.kind, got.location, got.ref) == (kind, location, ref)


@pytest.mark.parametrize("source", [
    "/etc", "/var/lib/paas/git", "file:///etc", "http://127.0.0.1:8500/v1/kv/paas", "../python",
    "python/../../etc", "git://example.com/x", "-uhttps://x", "https://example.com/x#--upload-pack=sh",
    "ext::sh -c id", "https://exa mple.com/x",
])
def test_buildpack_sources_that_are_refused(source):
    with pytest.raises(BuildFailed, match="Buildpack"):
        policy.classify_buildpack(source, BUILTIN, ())


def test_host_directories_only_from_the_operators_allow_list(tmp_path: Path):
    allowed = tmp_path / "packs"
    (allowed / "mine").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (allowed / "escape").symlink_to(tmp_path / "other")
    got = policy.classify_buildpack(str(allowed / "mine"), BUILTIN, (allowed,))
    assert got.kind == "dir" and got.location == str(allowed / "mine")
    for refused in (str(tmp_path / "other"), str(allowed / "escape"), str(allowed / ".." / "other"), str(allowed)):
        with pytest.raises(BuildFailed, match="PAAS_BUILDPACK_DIRS"):
            policy.classify_buildpack(refused, BUILTIN, (allowed,))


def test_git_packs_are_listed_for_the_container_not_fetched_by_the_host():
    plan = BuildpackPlan(explicit=True, names=["pack"], fetch=[("00-pack", "https://example.com/pack.git", "v1")])
    assert fetch_list(plan) == "00-pack\thttps://example.com/pack.git\tv1\n"


# ------------------------------------------------------------------ Dockerfile policy
def test_the_sample_dockerfile_and_public_images_are_accepted():
    sample = (Path(__file__).parents[1] / "apps" / "dockerfile" / "Dockerfile").read_text()
    assert violations(sample) == []
    assert violations("FROM python:3.12-slim AS build\nRUN pip install six\nFROM paas/stack-run\n"
                      "COPY --from=build /usr /usr\nCOPY --from=0 /a /b\nADD local.tar /x\n") == []


@pytest.mark.parametrize("line", [
    "ADD http://127.0.0.1:8500/v1/kv/paas/apps/b/config /x",
    "ADD https://example.com/file /x",
    "ADD --chown=1:1 ftp://example.com/f /x",
    'ADD ["http://10.0.0.1/x", "/x"]',
    "ADD git@github.com:owner/repo.git /src",
    "ONBUILD ADD http://127.0.0.1:8500/v1/kv/x /x",
])
def test_remote_add_is_refused_naming_the_line(line: str):
    problems = violations(f"FROM paas/stack-run:latest\n{line}\n")
    assert len(problems) == 1 and problems[0].startswith("line 2: ADD") and "remote" in problems[0]


@pytest.mark.parametrize("image", [
    "127.0.0.1:5000/other-app:abc", "localhost:5000/other-app", "[::1]:5000/x", "127.0.0.2:5000/x",
    "0.0.0.0:5000/x", "buildhost:5000/x", "10.1.2.3:5000/x", "$BASE",
])
def test_images_of_the_platform_registry_are_refused(image: str):
    for text in (f"FROM {image}\n", f"FROM paas/stack-run\nCOPY --from={image} /app /app\n"):
        problems = violations(text)
        assert len(problems) == 1 and image in problems[0], text


def test_local_images_other_than_the_stacks_are_refused():
    local = {"sha256:0123abcd", "paas/stack-run:latest", "paas/stack-run:0123456789ab", "someone/else:1"}
    problems = violations("FROM paas/stack-run:0123456789ab\nFROM sha256:0123abcd\nFROM someone/else:1\n",
                          local=local.__contains__)
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3"]


# ------------------------------------------------------------------ specs
def test_build_network_spec():
    spec = build_spec.network_spec("paas")
    assert spec["name"] == "paas-build-paas"
    bridge = spec["options"]["com.docker.network.bridge.name"]
    assert bridge.startswith("pb-") and len(bridge) == 15
    assert spec["options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert spec["labels"]["paas.platform"] == "paas"
    assert build_spec.network_spec("other")["options"]["com.docker.network.bridge.name"] != bridge


def test_build_container_runs_unprivileged_and_bounded(tmp_path: Path):
    spec = build_spec.build_container_spec(
        image="paas/stack-build:latest", app="a", build_id="b1", platform="paas", network="paas-build-paas",
        user="10001:10001", app_dir=tmp_path / "app", cache_dir=tmp_path / "cache", work_dir=tmp_path / "w",
        environment={}, memory="2g", cpus=2.0, pids=1024)
    assert spec["user"] == "10001:10001" and spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges"] and spec["pids_limit"] == 1024
    assert spec["network"] == "paas-build-paas" and spec["mem_limit"] == "2g"
    assert {v["bind"] for v in spec["volumes"].values()} == {"/app", "/cache", "/workspace"}


def test_run_image_is_owned_and_run_by_the_app_user():
    deps = build_spec.deps_image_dockerfile("paas/stack-run:latest", "10001:10001", [".venv"])
    assert deps.splitlines()[0] == "FROM paas/stack-run:latest"
    assert "COPY --chown=10001:10001 deps/0 /app/.venv" in deps
    text = build_spec.run_image_dockerfile("r/shop:deps-0123", "10001:10001", {"web": "python app.py"})
    assert text.splitlines()[0] == "FROM r/shop:deps-0123"
    assert "COPY --chown=10001:10001 root/ /" in text
    assert "USER 10001:10001" in text.splitlines()
    assert text.splitlines()[-1] == 'CMD ["python app.py"]'


def test_images_to_prune_keeps_the_newest():
    images = [("r/a:1", "2026-01-01T00:00:01Z"), ("r/a:3", "2026-01-03T00:00:00Z"), ("r/a:2", "2026-01-02T00:00:00Z")]
    assert build_spec.images_to_prune(images, 2) == ["r/a:1"]
    assert build_spec.images_to_prune(images, 5) == []


def test_the_dependency_image_key_follows_content_not_times(tmp_path):
    tree = tmp_path / "venv"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "flask.py").write_text("x = 1\n")
    os.symlink("/usr/bin/python3", tree / "python")
    first = policy.tree_digest(tree)
    os.utime(tree / "lib" / "flask.py", (1, 1))
    assert policy.tree_digest(tree) == first  # a restored cache with other mtimes is the same
    (tree / "lib" / "flask.py").write_text("x = 2\n")
    assert policy.tree_digest(tree) != first  # same size, other bytes
    (tree / "lib" / "flask.py").write_text("x = 1\n")
    os.remove(tree / "python")
    os.symlink("/usr/bin/python3.11", tree / "python")
    assert policy.tree_digest(tree) != first  # a link's target counts
    key = build_spec.deps_key("sha256:stack", "10001:10001", [".venv"], [first])
    assert key != build_spec.deps_key("sha256:other-stack", "10001:10001", [".venv"], [first])
    assert key != build_spec.deps_key("sha256:stack", "10001:10001", ["node_modules"], [first])


def test_a_fifo_in_a_dependency_dir_is_hashed_without_being_opened(tmp_path):
    tree = tmp_path / "deps"
    tree.mkdir()
    os.mkfifo(tree / "trap")  # opening it for reading would block the build forever
    assert len(policy.tree_digest(tree)) == 64
