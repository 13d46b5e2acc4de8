"""Builds: records of images, and the release each successful build creates."""

from __future__ import annotations

from paas.domain.builds import Build, new_build_id, validate_image, validate_procfile
from paas.domain.clock import now_iso
from paas.domain.errors import NotFound
from paas.domain.ports import BuildStore
from paas.domain.releases import Release
from paas.domain.users import User

from .formation import FormationService
from .releases import ReleaseService


class BuildService:
    def __init__(self, builds: BuildStore, releases: ReleaseService, formation: FormationService):
        self.builds = builds
        self.releases = releases
        self.formation = formation

    def create_from_image(
        self, app: str, actor: User, image: str, procfile: dict[str, str] | None = None
    ) -> tuple[Build, Release]:
        """Deploy a prebuilt image (like `deis pull`): without a Procfile, `web` runs the image's CMD."""
        validate_image(image)
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
