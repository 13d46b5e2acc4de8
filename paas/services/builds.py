"""Builds: from source (buildpacks or Dockerfile) or from a prebuilt image; each success is a release."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from paas.domain import timeline
from paas.domain.builds import Build, new_build_id, platform_repository, validate_image, validate_procfile
from paas.domain.clock import now_iso
from paas.domain.errors import BuildFailed, NotFound, PermissionDenied
from paas.domain.ports import BuildLogStore, BuildStore, BuiltImage, ImageBuilder, LogSink
from paas.domain.releases import Release
from paas.domain.users import User

from .apps import AppService, can_see
from .formation import FormationService
from .releases import ReleaseService

log = logging.getLogger(__name__)
# How far back a gateway may say a push began (the timeline's receive phase), in seconds.
MAX_RECEIVE = 600.0


class BuildService:
    def __init__(
        self,
        builds: BuildStore,
        releases: ReleaseService,
        formation: FormationService,
        builder: ImageBuilder | None = None,
        logs: BuildLogStore | None = None,
        registry: str | None = None,
        apps: AppService | None = None,
        run_local_images: bool = False,
    ):
        """registry: the platform's registry (host:port), where each app's images live under the
        app's name; apps: who may use which app (and so its images); run_local_images: the
        scheduler runs images from this host's engine (docker), so a push may deploy the local
        image while it is pushed to the registry (Nomad's clients pull: the registry comes first)."""
        self.builds = builds
        self.releases = releases
        self.formation = formation
        self.builder = builder
        self.logs = logs
        self.registry = registry
        self.apps = apps
        self.run_local_images = run_local_images
        self._publishing: dict[str, Future[Build]] = {}  # build id -> its push to the registry

    def create_from_image(
        self, app: str, actor: User, image: str, procfile: dict[str, str] | None = None
    ) -> tuple[Build, Release]:
        """Deploy a prebuilt image (like `deis pull`): without a Procfile, `web` runs the image's CMD."""
        validate_image(image)
        self.check_image_owner(app, actor, image)
        processes = validate_procfile(procfile) if procfile else {"web": ""}
        now = now_iso()
        build = Build(
            id=new_build_id(),
            app=app,
            image=image,
            created_by=actor.username,
            created_at=now,
            finished_at=now,
            source="image",
            procfile=processes,
        )
        return build, self.record(build, actor, f"{actor.username} deployed {image}")

    def check_image_owner(self, app: str, actor: User, image: str) -> None:
        """An image in the platform's registry belongs to the app it is named after: deploying
        another app's image would hand its code and files to whoever runs `paas run`."""
        if self.registry is None:
            return
        repository = platform_repository(image, self.registry)
        if repository is None or repository == app:
            return
        owner = self.apps.find(repository) if self.apps else None
        if owner is None or not can_see(actor, owner):
            # The same answer whether or not such an app exists: names are not disclosed.
            raise PermissionDenied(
                f"{image[:120]} is in the platform's registry under another app's repository: "
                f"deploy images of {app} or of an app you have access to"
            )

    def create_from_source(
        self, app: str, actor: User, source: Path, sink: LogSink, git_sha: str | None = None,
        received_since: float | None = None, publish_beside: bool = False,
    ) -> tuple[Build, Release]:
        """Build a source tree; on success record the build and release it. A failed build is
        recorded (with its log) but makes no release. received_since: when the push began (the
        timeline's receive phase). publish_beside (with run_local_images): release the image as
        built on this host and push it to the registry in the background; `published` waits."""
        if self.builder is None or self.logs is None:
            raise BuildFailed("This controller has no builder configured")
        build = Build(
            id=new_build_id(),
            app=app,
            image="",
            created_by=actor.username,
            created_at=now_iso(),
            status="building",
            source="git" if git_sha else "source",
            git_sha=git_sha,
        )
        now = time.time()
        received = received_since if received_since and now - MAX_RECEIVE <= received_since <= now else now
        timeline.begin(build.timeline, "receive", received)
        self.builds.add(build)
        logs = self.logs

        def tee(line: str) -> None:
            logs.append(app, build.id, line)
            sink(line)

        config = self.releases.current(app).config
        started = time.monotonic()
        beside = publish_beside and self.run_local_images
        try:
            built = self.builder.build(app, build.id, source, config, tee, marks=build.timeline, publish=not beside)
        except BuildFailed as exc:
            build.status, build.error = "failed", str(exc)
            build.finished_at, build.duration = now_iso(), round(time.monotonic() - started, 2)
            timeline.close(build.timeline, time.time())
            self.builds.add(build)
            tee(f" !     Build failed: {exc}")
            raise
        build.status, build.image, build.digest = "succeeded", built.image, built.digest
        build.procfile, build.size, build.app_json = built.procfile, built.size, built.app_json
        for line in self.formation.app_json_notes(app, built.app_json):
            tee(line)
        build.finished_at, build.duration = now_iso(), round(time.monotonic() - started, 2)
        if beside:
            self._publish_beside(build, built, tee)
        what = git_sha[:7] if git_sha else f"build {build.id}"
        return build, self.record(build, actor, f"{actor.username} deployed {what}")

    def _publish_beside(self, build: Build, built: BuiltImage, sink: LogSink) -> None:
        future: Future[Build] = Future()
        self._publishing[build.id] = future

        def work() -> None:
            try:
                published = self.builder.publish(built, sink, build.timeline)
                build.digest = published.digest
                future.set_result(build)
            except BuildFailed as exc:
                build.error = str(exc)
                future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - handed to the waiter, who reports it
                log.exception("publishing %s", build.image)
                future.set_exception(exc)
            finally:
                build.duration = round(sum(m.duration or 0 for m in build.timeline), 2)
                self.builds.add(build)

        threading.Thread(target=work, name=f"paas-publish-{build.id}", daemon=True).start()

    def published(self, build: Build, timeout: float = 600) -> Build:
        """Wait until a build released with publish_beside is in the registry (at once for any
        other build). Raises BuildFailed when the push to the registry failed."""
        future = self._publishing.pop(build.id, None)
        if future is None:
            return build
        return future.result(timeout=timeout)

    def record(self, build: Build, actor: User, summary: str) -> Release:
        """Store a finished build and release it with the current config."""
        self.builds.add(build)
        self.formation.follow_process_types(build.app, set(build.procfile))
        release = self.releases.create(
            build.app,
            actor,
            lambda _current: {
                "summary": summary,
                "build_id": build.id,
                "image": build.image,
                "procfile": dict(build.procfile),
                "git_sha": build.git_sha,
            },
        )
        assert release is not None
        return release

    def list(self, app: str) -> list[Build]:
        return self.builds.list(app)

    def get(self, app: str, build_id: str) -> Build:
        build = self.builds.get(app, build_id) if build_id.isalnum() else None
        if build is None:
            raise NotFound(f"Build {build_id[:40]!r} of {app} not found")
        return build

    def log(self, app: str, build_id: str) -> str:
        self.get(app, build_id)
        return (self.logs.read(app, build_id) if self.logs else None) or ""
