"""The ImageBuilder on a Docker engine (docker SDK): buildpacks in an ephemeral container of the
build stack, or `docker build` when the app has a Dockerfile; then push to the registry."""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors

from paas.config import Settings
from paas.domain.builds import parse_procfile
from paas.domain.errors import BuildFailed, ValidationError
from paas.domain.ports import BuiltImage, LogSink

from . import buildpacks
from .workspace import Workspace

HERE = Path(__file__).resolve().parent
CA_IN_CONTAINER = "/workspace/certs/ca-certificates.crt"
CA_ENV_VARS = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "npm_config_cafile",
               "GIT_SSL_CAINFO", "CURL_CA_BUNDLE")


class DockerImageBuilder:
    def __init__(self, settings: Settings, client: docker.DockerClient | None = None):
        self.settings = settings
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.settings.docker_host) if self.settings.docker_host \
                else docker.from_env()
        return self._client

    def build(self, app: str, build_id: str, source: Path, config: dict[str, str], sink: LogSink) -> BuiltImage:
        workspace = Workspace.create(self.settings.data_dir / "work" / build_id, source)
        try:
            with self._app_cache(app) as cache:
                if (workspace.app / "Dockerfile").is_file():
                    return self._dockerfile_build(app, build_id, workspace, sink)
                return self._buildpack_build(app, build_id, workspace, cache, config, sink)
        except docker.errors.DockerException as exc:
            raise BuildFailed(f"Docker failed: {_short(exc)}") from None
        finally:
            workspace.remove()

    @contextmanager
    def _app_cache(self, app: str) -> Iterator[Path]:
        """The app's cache dir, held exclusively: two builds of one app never share it at once."""
        cache = self.settings.data_dir / "cache" / app
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache.parent / f"{app}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield cache

    # ------------------------------------------------------------------ buildpacks
    def _buildpack_build(
        self, app: str, build_id: str, ws: Workspace, cache: Path, config: dict[str, str], sink: LogSink
    ) -> BuiltImage:
        plan = buildpacks.prepare(ws.app, config, self.settings.buildpacks_dir, ws.buildpacks)
        (ws.work / "mode").write_text("explicit" if plan.explicit else "detect")
        (ws.work / "supported").write_text(buildpacks.SUPPORTED)
        shutil.copy(HERE / "driver.sh", ws.work / "driver.sh")
        ws.write_env(config)
        environment = {"STACK": "paas-bookworm", "HOME": "/app", "SOURCE_VERSION": build_id}
        if self.settings.ca_bundle and self.settings.ca_bundle.is_file():
            (ws.work / "certs").mkdir()
            shutil.copy(self.settings.ca_bundle, ws.work / "certs" / "ca-certificates.crt")
            environment.update(dict.fromkeys(CA_ENV_VARS, CA_IN_CONTAINER))
        self._run_build_container(app, build_id, ws, cache, environment, sink)

        procfile = buildpacks.parse_release((ws.out / "release.yml").read_text()) \
            if (ws.out / "release.yml").is_file() else {}
        procfile.update(self._procfile(ws))
        if not procfile:
            raise BuildFailed("No process types: add a Procfile (e.g. 'web: python app.py')")
        sink("-----> Building the run image")
        image = self._assemble_image(app, build_id, ws, procfile)
        return self._push(image, procfile, "buildpacks", sink)

    def _run_build_container(
        self, app: str, build_id: str, ws: Workspace, cache: Path, environment: dict, sink: LogSink
    ) -> None:
        try:
            container = self.client.containers.create(
                self.settings.build_stack,
                command=["bash", "/workspace/driver.sh"],
                working_dir="/app",
                environment=environment,
                volumes={
                    str(ws.app): {"bind": "/app", "mode": "rw"},
                    str(cache): {"bind": "/cache", "mode": "rw"},
                    str(ws.work): {"bind": "/workspace", "mode": "rw"},
                },
                mem_limit=self.settings.build_memory,
                nano_cpus=int(self.settings.build_cpus * 1e9),
                labels={"paas.role": "build", "paas.app": app, "paas.build": build_id},
                name=f"paas-build-{app}-{build_id}",
            )
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
            _stream_lines(container.logs(stream=True, follow=True), sink)
            status = container.wait().get("StatusCode", 1)
        finally:
            timer.cancel()
            container.remove(force=True)
        if timed_out.is_set():
            minutes = self.settings.build_timeout / 60
            raise BuildFailed(f"The build timed out after {minutes:g} minutes (PAAS_BUILD_TIMEOUT)")
        if status == 3:
            raise BuildFailed(f"No buildpack supports this app. Supported: {buildpacks.SUPPORTED}")
        if status == 137:
            raise BuildFailed(f"The build ran out of memory (limit {self.settings.build_memory})")
        if status != 0:
            raise BuildFailed(f"The buildpack's compile step failed (exit {status}); see the log above")

    def _procfile(self, ws: Workspace) -> dict[str, str]:
        path = ws.app / "Procfile"
        if not path.is_file():
            return {}
        try:
            return parse_procfile(path.read_text(errors="replace"))
        except ValidationError as exc:
            raise BuildFailed(f"Invalid Procfile: {exc}") from None

    def _assemble_image(self, app: str, build_id: str, ws: Workspace, procfile: dict[str, str]) -> str:
        """run stack + one layer per dependency dir + one layer of app code."""
        context = ws.image_context
        (context / "deps").mkdir(parents=True)
        # The label tells the scheduler that commands go through the launcher (.profile.d, $PORT).
        lines = [f"FROM {self.settings.run_stack}", "LABEL paas.launcher=1", "COPY launcher.sh /paas/launcher"]
        layers_file = ws.app / ".paas" / "layers"
        layer_dirs = [d.strip() for d in layers_file.read_text().splitlines() if d.strip()] \
            if layers_file.is_file() else []
        for index, rel in enumerate(dict.fromkeys(layer_dirs)):
            src = ws.app / rel
            if ".." in Path(rel).parts or not src.is_dir():
                continue
            shutil.move(str(src), context / "deps" / str(index))
            lines.append(f"COPY deps/{index} /app/{rel}")
        shutil.move(str(ws.app), context / "app")
        shutil.copy(HERE / "launcher.sh", context / "launcher.sh")
        (context / "launcher.sh").chmod(0o755)
        lines += [
            "COPY app /app",
            "ENV HOME=/app PORT=5000",
            "WORKDIR /app",
            'ENTRYPOINT ["/paas/launcher"]',
        ]
        if procfile.get("web"):
            lines.append(f"CMD {json.dumps([procfile['web']])}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        tag = self._tag(app, build_id)
        self._docker_build(context, tag, sink=None)
        return tag

    # ------------------------------------------------------------------ Dockerfile
    def _dockerfile_build(self, app: str, build_id: str, ws: Workspace, sink: LogSink) -> BuiltImage:
        sink("-----> Dockerfile detected: building with Docker")
        tag = self._tag(app, build_id)
        self._docker_build(ws.app, tag, sink)
        procfile = {"web": ""}
        procfile.update(self._procfile(ws))
        return self._push(tag, procfile, "dockerfile", sink)

    def _docker_build(self, context: Path, tag: str, sink: LogSink | None) -> None:
        stream = self.client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True,
                                       pull=False, timeout=int(self.settings.build_timeout))
        for chunk in stream:
            if "error" in chunk:
                raise BuildFailed(f"docker build failed: {chunk['error'].strip()[:500]}")
            text = chunk.get("stream", "")
            if sink and text.strip():
                for line in text.rstrip("\n").splitlines():
                    sink(f"       {line}")

    # ------------------------------------------------------------------ registry
    def _tag(self, app: str, build_id: str) -> str:
        return f"{self.settings.registry}/{app}:{build_id}"

    def _push(self, tag: str, procfile: dict[str, str], builder: str, sink: LogSink) -> BuiltImage:
        repository, _, version = tag.rpartition(":")
        sink(f"-----> Pushing {tag}")
        digest = ""
        for chunk in self.client.api.push(repository, tag=version, stream=True, decode=True):
            if "error" in chunk:
                raise BuildFailed(f"Pushing the image failed: {chunk['error'][:300]}")
            digest = chunk.get("aux", {}).get("Digest", digest)
        image = self.client.images.get(tag)
        sink(f"-----> Pushed {tag} ({image.attrs.get('Size', 0) / 1e6:.1f} MB, {digest[:19]})")
        return BuiltImage(image=tag, digest=digest, procfile=procfile, size=image.attrs.get("Size", 0),
                          builder=builder)


def _stream_lines(chunks, sink: LogSink) -> None:
    """Docker hands out arbitrary byte chunks; the sink gets whole lines as soon as they end."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            sink(line.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        sink(pending.decode("utf-8", "replace"))


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
