"""Pushes: what a `git push` asks of the platform, through the SSH gateway. Whose key is this
and may its owner push to this app (asked by the gateway before git runs); then the push
itself: receive the source, build it, release it, wait until the release serves (or fails) and
say so in the push's output, including why a deploy failed."""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from paas.domain import timeline
from paas.domain.builds import Build
from paas.domain.deployments import Deployment, Phase
from paas.domain.errors import BuildFailed, NotFound, TooLarge, ValidationError
from paas.domain.keys import SshKey
from paas.domain.ports import LogSink
from paas.domain.releases import Release
from paas.domain.users import User

from .apps import AppService, can_see
from .auth import AuthService
from .builds import BuildService
from .deploys import DeployService
from .formation import FormationService
from .keys import KeyService

CHUNK = 1024 * 1024
# The prefix of an error line in the push output (Heroku's), after git's "remote: ".
ERROR_PREFIX = " !     "


@dataclass(frozen=True)
class PushAccess:
    exists: bool
    allowed: bool
    app_id: str | None  # only for a user who may push (the gateway recreates a repo whose id differs)


@dataclass(frozen=True)
class Push:
    """The outcome of one push: a build and its release, and how its deployment ended (None when
    there was nothing to deploy). error: why the release does not serve, else None."""

    build: Build
    release: Release
    deployment: Deployment | None
    error: str | None = None


class PushService:
    def __init__(self, builds: BuildService, deploys: DeployService, formation: FormationService,
                 apps: AppService, auth: AuthService, keys: KeyService, uploads: Path, max_upload_bytes: int):
        """uploads: where received sources are spooled until their build has read them."""
        self.builds = builds
        self.deploys = deploys
        self.formation = formation
        self.apps = apps
        self.auth = auth
        self.keys = keys
        self.uploads = uploads
        self.max_upload_bytes = max_upload_bytes

    # ------------------------------------------------------------------ the gateway's questions
    def key_owner(self, fingerprint: str) -> SshKey:
        key = self.keys.by_fingerprint(fingerprint)
        if key is None:
            raise NotFound("No user has this key")
        return key

    def access(self, username: str, app: str) -> PushAccess:
        """Whether the app exists and whether the user may push to it. A user who may not learns
        nothing more (not even the app's id)."""
        user = self.auth.get_user(username)
        found = self.apps.find(app)
        allowed = bool(found and user and can_see(user, found))
        return PushAccess(exists=found is not None, allowed=allowed, app_id=self.apps.app_id(app) if allowed else None)

    # ------------------------------------------------------------------ the push
    def receive(self, stream: IO[bytes]) -> Path:
        """Spool an uploaded source tarball to a file (push() removes it). The limit is counted
        while streaming, so an upload without a Content-Length (chunked) stops at the limit too
        and what was written so far is removed."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        limit = self.max_upload_bytes
        with tempfile.NamedTemporaryFile(dir=self.uploads, suffix=".tar", delete=False) as out:
            path = Path(out.name)
            written = 0
            try:
                while chunk := stream.read(CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise TooLarge(f"The upload is larger than {limit} bytes (PAAS_MAX_UPLOAD_BYTES)")
                    out.write(chunk)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        if not tarfile.is_tarfile(path):
            path.unlink()
            raise ValidationError("The request body must be a tar archive (optionally gzipped) of the source")
        return path

    def push(self, app: str, actor: User, source: Path, sink: LogSink, git_sha: str | None = None,
             received_since: float | None = None) -> Push:
        """Build `source` (received), release it and wait until the release serves (on the
        docker scheduler while the image goes to the registry beside the rollout). The build's
        and the rollout's progress go to sink, then the timeline of both; so does why the
        deploy failed."""
        try:
            build, release = self.builds.create_from_source(app, actor, source, sink, git_sha=git_sha,
                                                            received_since=received_since, publish_beside=True)
        finally:
            source.unlink(missing_ok=True)
        deployment = self.deploys.wait(app, release.version, sink=sink)
        error = _error(release.version, deployment, sink)
        try:
            build = self.builds.published(build)
        except BuildFailed as exc:
            sink(f"{ERROR_PREFIX}{exc}")
            error = error or f"v{release.version} runs from this host's copy of the image, which is not " \
                             f"in the registry: {exc}"
        _show_timeline(build, deployment, sink)
        return Push(build=build, release=release, deployment=deployment, error=error)


def _error(version: int, deployment: Deployment | None, sink: LogSink) -> str | None:
    """Why release `version` does not serve after `deployment` (None if it does), with the
    failure's explanation written to sink."""
    if deployment is None or (deployment.release == version and deployment.promoted):
        return None
    if deployment.release != version:
        return f"v{version} did not go live: v{deployment.release} superseded it"
    if deployment.phase == Phase.SUPERSEDED:
        return f"v{version} did not go live: a newer rollout superseded it ({deployment.description})"
    if deployment.phase == Phase.FAILED and deployment.failure is not None:
        for line in deployment.failure.explain():
            sink(f"{ERROR_PREFIX}{line}")
        return f"v{version} failed to deploy: {deployment.failure.reason}"
    return f"v{version} failed to deploy: {deployment.description}"


def _show_timeline(build: Build, deployment: Deployment | None, sink: LogSink) -> None:
    """The push's phases with their durations, where the seconds went (Build and Deployment
    timelines; the image push runs beside the rollout on the docker scheduler)."""
    marks = build.timeline + (deployment.timeline if deployment else [])
    if marks:
        sink("-----> Timeline")
        for line in timeline.render(marks):
            sink(f"       {line}")
