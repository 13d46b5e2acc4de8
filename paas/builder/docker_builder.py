"""The ImageBuilder on a Docker engine (docker SDK): buildpacks in an ephemeral container of the
build stack, or `docker build` when the app has a Dockerfile; then push to the registry."""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors

from paas.config import Settings
from paas.domain import names, timeline
from paas.domain.builds import parse_procfile
from paas.domain.errors import BuildFailed, ValidationError
from paas.domain.lines import split_lines
from paas.domain.ports import BuiltImage, LogSink
from paas.domain.timeline import Mark

from . import build_spec, buildpacks, policy
from .logs import FileBuildLogStore
from .registry import RegistryClient, RegistryError
from .workspace import SourceLimits, Workspace, chown_tree

HERE = Path(__file__).resolve().parent
CA_IN_CONTAINER = "/workspace/certs/ca-certificates.crt"
CA_ENV_VARS = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "npm_config_cafile",
               "GIT_SSL_CAINFO", "CURL_CA_BUNDLE")
LOG = logging.getLogger(__name__)
APP_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
EXIT_MESSAGES = {
    3: "No buildpack supports this app. Supported: " + buildpacks.SUPPORTED,
    4: "A buildpack could not be fetched; see the log above",
}


class DockerImageBuilder:
    def __init__(self, settings: Settings, client: docker.DockerClient | None = None,
                 logs: FileBuildLogStore | None = None):
        self.settings = settings
        self._client = client
        self.logs = logs or FileBuildLogStore(settings.data_dir / "logs")
        self.uid, self.gid = build_spec.parse_user(settings.app_user)
        if 0 in (self.uid, self.gid):
            raise ValueError("PAAS_APP_USER must not be root (uid or gid 0): builds run as that user")
        self.registry_client = RegistryClient(settings.registry, settings.registry_username,
                                              settings.registry_password)
        self._network_lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.settings.docker_host) if self.settings.docker_host \
                else docker.from_env()
        return self._client

    @property
    def auth_config(self) -> dict[str, str] | None:
        s = self.settings
        return {"username": s.registry_username, "password": s.registry_password} \
            if s.registry_username and s.registry_password else None

    def build(self, app: str, build_id: str, source: Path, config: dict[str, str], sink: LogSink,
              marks: list[Mark] | None = None, publish: bool = True) -> BuiltImage:
        _check_app(app)
        marks = marks if marks is not None else []
        limits = SourceLimits(self.settings.max_source_bytes, self.settings.max_source_entries,
                              self.settings.max_source_ratio)
        workspace = Workspace.create(self.settings.data_dir / "work" / build_id, source, limits)
        try:
            app_json, notes = policy.read_app_json(workspace.app)
            for note in notes:
                sink(f"       note: app.json {note}")
            with self._app_cache(app) as cache:
                if policy.is_real_file(workspace.app, "Dockerfile"):
                    built = self._dockerfile_build(app, build_id, workspace, sink, marks)
                elif os.path.lexists(workspace.app / "Dockerfile"):
                    raise BuildFailed("Dockerfile is a symlink or not a regular file, which is refused")
                else:
                    built = self._buildpack_build(app, build_id, workspace, cache, config, sink, marks)
        except docker.errors.DockerException as exc:
            raise BuildFailed(f"Docker failed: {_short(exc)}") from None
        finally:
            workspace.remove()
        self._prune_images(app, keep_tag=build_id)
        built = dataclasses.replace(built, app_json=app_json)
        return self.publish(built, sink, marks) if publish else built

    # ------------------------------------------------------------------ network
    def build_network(self) -> str:
        """The build network's name, created if missing (idempotent, also across processes)."""
        spec = build_spec.network_spec(self.settings.kv_prefix)
        with self._network_lock:
            if not self.client.networks.list(names=[spec["name"]]):
                try:
                    self.client.networks.create(**spec)
                except docker.errors.APIError as exc:
                    if exc.status_code != 409 and not self.client.networks.list(names=[spec["name"]]):
                        raise
        return spec["name"]

    @contextmanager
    def _app_cache(self, app: str) -> Iterator[Path]:
        """The app's cache dir, held exclusively: two builds of one app never share it at once."""
        cache = self.settings.data_dir / "cache" / app
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache.parent / f"{app}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield cache

    def remove_build_network(self) -> bool:
        """Remove this platform's build network if no container uses it (for teardown: tests and
        uninstall); False if it is in use or absent."""
        name = names.build_network(self.settings.kv_prefix)
        with self._network_lock:
            for network in self.client.networks.list(names=[name]):
                network.reload()
                if network.attrs.get("Containers"):
                    return False
                try:
                    network.remove()
                except docker.errors.APIError:
                    return False
                return True
        return False

    # ------------------------------------------------------------------ buildpacks
    def _buildpack_build(
        self, app: str, build_id: str, ws: Workspace, cache: Path, config: dict[str, str], sink: LogSink,
        marks: list[Mark],
    ) -> BuiltImage:
        plan = buildpacks.prepare(ws.app, config, self.settings.buildpacks_dir, ws.buildpacks,
                                  self.settings.buildpack_dirs)
        (ws.work / "mode").write_text("explicit" if plan.explicit else "detect")
        (ws.work / "supported").write_text(buildpacks.SUPPORTED)
        (ws.work / "fetch").write_text(buildpacks.fetch_list(plan))
        shutil.copy(HERE / "driver.sh", ws.work / "driver.sh")
        ws.write_env(config)
        environment = {"STACK": "paas-bookworm", "HOME": "/app", "SOURCE_VERSION": build_id}
        if self.settings.ca_bundle and self.settings.ca_bundle.is_file():
            (ws.work / "certs").mkdir()
            shutil.copy(self.settings.ca_bundle, ws.work / "certs" / "ca-certificates.crt")
            environment.update(dict.fromkeys(CA_ENV_VARS, CA_IN_CONTAINER))
        # The build runs as the app user: it owns its workspace and the app's cache, nothing else.
        ws.hand_over(self.uid, self.gid)
        chown_tree(cache, self.uid, self.gid)
        timeline.begin(marks, "detect", time.time())

        def phases(line: str) -> None:
            # The driver names the buildpack once detection is over: the compile (dependencies) follows.
            if not timeline.has(marks, "dependencies") and line.startswith("-----> ") and (
                    line.endswith(" app detected") or line.startswith("-----> Using buildpack")):
                timeline.begin(marks, "dependencies", time.time())
            sink(line)

        self._run_build_container(app, build_id, ws, cache, environment, phases)

        # From here on every file was written by the tenant's build: read as data, links refused.
        release = policy.read_untrusted(ws.work, "out/release.yml")
        procfile = buildpacks.parse_release(release) if release is not None else {}
        procfile.update(self._procfile(ws))
        if not procfile:
            raise BuildFailed("No process types: add a Procfile (e.g. 'web: python app.py')")
        sink("-----> Building the run image")
        timeline.begin(marks, "assemble", time.time())
        image = self._assemble_image(app, build_id, ws, procfile, sink)
        timeline.end(marks, "assemble", time.time())
        return self._built(image, procfile, "buildpacks")

    def _run_build_container(
        self, app: str, build_id: str, ws: Workspace, cache: Path, environment: dict, sink: LogSink
    ) -> None:
        s = self.settings
        spec = build_spec.build_container_spec(
            image=s.build_stack, app=app, build_id=build_id, platform=s.kv_prefix, network=self.build_network(),
            user=s.app_user, app_dir=ws.app, cache_dir=cache, work_dir=ws.work, environment=environment,
            memory=s.build_memory, cpus=s.build_cpus, pids=s.build_pids)
        try:
            container = self.client.containers.create(**spec)
        except docker.errors.ImageNotFound:
            raise BuildFailed(
                f"Build stack image {self.settings.build_stack} not found: run scripts/build-stacks.sh"
            ) from None
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # already gone

        timer = threading.Timer(self.settings.build_timeout, kill_on_timeout)
        try:
            container.start()
            timer.start()
            # Docker hands out arbitrary byte chunks; the sink gets whole lines as soon as they end.
            for line in split_lines(container.logs(stream=True, follow=True)):
                sink(line)
            status = container.wait().get("StatusCode", 1)
        finally:
            timer.cancel()
            container.remove(force=True)
        if timed_out.is_set():
            minutes = self.settings.build_timeout / 60
            raise BuildFailed(f"The build timed out after {minutes:g} minutes (PAAS_BUILD_TIMEOUT)")
        if status in EXIT_MESSAGES:
            raise BuildFailed(EXIT_MESSAGES[status])
        if status == 137:
            raise BuildFailed(f"The build ran out of memory (limit {self.settings.build_memory})")
        if status != 0:
            raise BuildFailed(f"The buildpack's compile step failed (exit {status}); see the log above")

    def _procfile(self, ws: Workspace) -> dict[str, str]:
        text = policy.read_untrusted(ws.app, "Procfile")
        if text is None:
            return {}
        try:
            return parse_procfile(text)
        except ValidationError as exc:
            raise BuildFailed(f"Invalid Procfile: {exc}") from None

    def _assemble_image(self, app: str, build_id: str, ws: Workspace, procfile: dict[str, str],
                        sink: LogSink) -> str:
        """run stack + one layer per dependency dir + one layer of app code. The lower part (stack
        and dependency layers) is its own local image, `<registry>/<app>:deps-<key>`, keyed by the
        stack and the dependency dirs' content: a push that changes only code builds just the
        code layer on it (0.2 s instead of ~1 s of sending and checksumming the dependencies)."""
        context = ws.image_context / "deps-stage"
        (context / "deps").mkdir(parents=True)
        listed = policy.read_untrusted(ws.app, ".paas/layers") or ""
        layers, missing, refused = policy.layer_dirs(ws.app, listed)
        if refused:
            raise BuildFailed(".paas/layers names paths that are refused (dependency dirs must be real "
                              "directories inside the app, relative, without '..' or symlinks): "
                              + "; ".join(refused)[:600])
        for rel in missing:
            sink(f"       note: .paas/layers names {rel!r}, which the build did not create; ignored")
        for index, rel in enumerate(layers):
            # Checked just above with lstat on every component; the build container is gone, so
            # nothing can swap it for a link in between.
            shutil.move(str(ws.app / rel), context / "deps" / str(index))
        base = self._deps_image(app, context, layers)
        app_context = ws.image_context / "app-stage"
        (app_context / "root").mkdir(parents=True)
        shutil.move(str(ws.app), app_context / "root" / "app")
        dockerfile = build_spec.run_image_dockerfile(base, self.settings.app_user, procfile)
        (app_context / "Dockerfile").write_text(dockerfile)
        tag = names.image(self.settings.registry, app, build_id)
        self._docker_build(app_context, tag, sink=None)
        return tag

    def _deps_image(self, app: str, context: Path, layers: list[str]) -> str:
        """The app's dependency image for these dependency dirs (built when missing); the
        previous ones of the app are untagged (their layers stay while images use them)."""
        stack_id = self.client.images.get(self.settings.run_stack).id
        key = build_spec.deps_key(stack_id, self.settings.app_user, layers,
                                  [policy.tree_digest(context / "deps" / str(i)) for i in range(len(layers))])
        repository = names.repository(self.settings.registry, app)
        tag = f"{repository}:{build_spec.DEPS_TAG_PREFIX}{key}"
        if not self._is_local_image(tag):
            shutil.copy(HERE / "launcher.sh", context / "launcher.sh")
            (context / "launcher.sh").chmod(0o755)
            (context / "Dockerfile").write_text(
                build_spec.deps_image_dockerfile(self.settings.run_stack, self.settings.app_user, layers))
            self._docker_build(context, tag, sink=None)
        for image in self._local_images(app):
            for old in image.tags:
                if old.startswith(f"{repository}:{build_spec.DEPS_TAG_PREFIX}") and old != tag:
                    try:
                        self.client.images.remove(old, noprune=False)
                    except docker.errors.APIError as exc:
                        LOG.info("keeping %s: %s", old, _short(exc))
        return tag

    # ------------------------------------------------------------------ Dockerfile
    def _dockerfile_build(self, app: str, build_id: str, ws: Workspace, sink: LogSink,
                          marks: list[Mark]) -> BuiltImage:
        sink("-----> Dockerfile detected: building with Docker")
        text = policy.read_untrusted(ws.app, "Dockerfile", limit=256 * 1024) or ""
        problems = policy.dockerfile_violations(
            text, self.settings.registry, build_spec.stack_names(self.settings.build_stack, self.settings.run_stack),
            self._is_local_image, registry_aliases=_host_names())
        if problems:
            raise BuildFailed("The Dockerfile is refused: " + "; ".join(problems)[:1000])
        tag = names.image(self.settings.registry, app, build_id)
        # RUN steps run on the build network; FROM images that are not local are not pulled
        # implicitly by the build (pull=False keeps `docker build` from refreshing local ones).
        timeline.begin(marks, "assemble", time.time())
        self._docker_build(ws.app, tag, sink, network=self.build_network())
        timeline.end(marks, "assemble", time.time())
        procfile = {"web": ""}
        procfile.update(self._procfile(ws))
        return self._built(tag, procfile, "dockerfile")

    def _is_local_image(self, name: str) -> bool:
        try:
            self.client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError:
            return True  # an unparsable reference: refuse rather than guess
        return True

    def _docker_build(self, context: Path, tag: str, sink: LogSink | None, network: str | None = None) -> None:
        stream = self.client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True,
                                       pull=False, timeout=int(self.settings.build_timeout),
                                       network_mode=network, labels={"paas.platform": self.settings.kv_prefix})
        for chunk in stream:
            if "error" in chunk:
                raise BuildFailed(f"docker build failed: {chunk['error'].strip()[:500]}")
            text = chunk.get("stream", "")
            if sink and text.strip():
                for line in text.rstrip("\n").splitlines():
                    sink(f"       {line}")

    # ------------------------------------------------------------------ registry
    def _built(self, tag: str, procfile: dict[str, str], builder: str) -> BuiltImage:
        """The image as built on this host (not yet in the registry: no digest)."""
        image = self.client.images.get(tag)
        return BuiltImage(image=tag, digest="", procfile=procfile, size=image.attrs.get("Size", 0), builder=builder)

    def publish(self, built: BuiltImage, sink: LogSink, marks: list[Mark] | None = None) -> BuiltImage:
        marks = marks if marks is not None else []
        timeline.begin(marks, "publish", time.time())
        repository, _, version = built.image.rpartition(":")
        sink(f"-----> Pushing {built.image}")
        digest = ""
        try:
            for chunk in self.client.api.push(repository, tag=version, stream=True, decode=True,
                                              auth_config=self.auth_config):
                if "error" in chunk:
                    raise BuildFailed(f"Pushing the image failed: {chunk['error'][:300]}")
                digest = chunk.get("aux", {}).get("Digest", digest)
        except docker.errors.DockerException as exc:
            raise BuildFailed(f"Pushing the image failed: {_short(exc)}") from None
        finally:
            timeline.end(marks, "publish", time.time())
        sink(f"-----> Pushed {built.image} ({built.size / 1e6:.1f} MB, {digest[:19]})")
        return dataclasses.replace(built, digest=digest)


    # ------------------------------------------------------------------ images of an app
    def _local_images(self, app: str) -> list:
        return self.client.images.list(name=names.repository(self.settings.registry, app))

    def _prune_images(self, app: str, keep_tag: str) -> None:
        """Keep the newest PAAS_KEEP_IMAGES builds of the app as local images; never force (an
        image a container uses stays)."""
        repository = names.repository(self.settings.registry, app)
        just_built = f"{repository}:{keep_tag}"
        # The image just built is the newest whatever its timestamp says: it always stays, and
        # the others are ranked among themselves for the remaining places.
        others = [(tag, image.attrs.get("Created", "")) for image in self._local_images(app)
                  for tag in image.tags if tag.rpartition(":")[0] == repository and tag != just_built
                  and not tag.rpartition(":")[2].startswith(build_spec.DEPS_TAG_PREFIX)]
        for tag in build_spec.images_to_prune(others, max(self.settings.keep_images, 1) - 1):
            try:
                self.client.images.remove(tag, noprune=False)
            except docker.errors.APIError as exc:
                LOG.info("keeping %s: %s", tag, _short(exc))

    def remove_app(self, app: str) -> None:
        """Everything the builder holds of an app: build cache and its lock, build logs, local
        images of <registry>/<app> and the registry's manifests of that repository (blobs are
        freed by scripts/registry-gc.sh). Images a container still uses are kept (Docker refuses);
        their number is logged."""
        _check_app(app)
        cache_root = self.settings.data_dir / "cache"
        lock_path = cache_root / f"{app}.lock"
        if lock_path.exists() or (cache_root / app).exists():
            # Wait for a running build of the app to finish; then nothing uses the cache.
            cache_root.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                shutil.rmtree(cache_root / app, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
        self.logs.remove_app(app)
        repository = names.repository(self.settings.registry, app)
        kept = 0
        for image in self._local_images(app):
            for tag in (t for t in image.tags if t.rpartition(":")[0] == repository):
                try:
                    self.client.images.remove(tag, noprune=False)
                except docker.errors.ImageNotFound:
                    pass
                except docker.errors.APIError as exc:
                    kept += 1
                    LOG.warning("kept image %s: %s", tag, _short(exc))
        if kept:
            LOG.warning("remove_app %s: %d image(s) kept because a container still uses them", app, kept)
        try:
            deleted = self.registry_client.delete_repository(app)
        except (RegistryError, OSError) as exc:
            raise BuildFailed(f"Could not delete {app}'s images from the registry: {exc}") from None
        LOG.info("remove_app %s: %d manifest(s) deleted from the registry", app, deleted)


def _check_app(app: str) -> None:
    """App names become paths and image names here: only DNS labels."""
    if not APP_NAME_RE.fullmatch(app):
        raise ValueError(f"invalid app name {app[:70]!r}")


def _host_names() -> tuple[str, ...]:
    """Other spellings of this host a Dockerfile could use to reach the platform's registry."""
    names = {socket.gethostname(), socket.getfqdn()}
    return tuple(sorted(n for n in names if n))


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
