"""Builds: list, info (with the log), deploying a prebuilt image, and building uploaded source."""

from flask import request
from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import (
    SECURITY,
    PageArgs,
    current_user,
    login_required,
    page_of,
    services,
    streams_upload,
    visible_app,
    wait_for_live,
)
from ..deployments.schemas import DeploymentSchema, WaitArgs
from ..releases.schemas import ReleaseSchema
from ..streaming import ndjson_response
from .schemas import BuildCreatedSchema, BuildCreateSchema, BuildDetailSchema, BuildSchema, SourceBuildArgs

blp = Blueprint("builds", __name__, url_prefix="/v1/apps/<app>/builds", description="Builds")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(BuildSchema))
@login_required
def list_builds(args, app):
    """Builds, newest first."""
    return paginate(services().builds.list(visible_app(app).name), args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(BuildCreateSchema)
@blp.arguments(WaitArgs, location="query")
@blp.response(201, BuildCreatedSchema)
@login_required
def create_build(body, args, app):
    """Deploy a prebuilt image: records a build and creates a release with the current config."""
    name = visible_app(app).name
    build, release = services().builds.create_from_image(name, current_user(), body["image"], body.get("procfile"))
    # Release history masks config values (releases:info --reveal shows them).
    return {"build": build, "release": release.masked(), "deployment": wait_for_live(name, release.version, args["wait"])}


@blp.route("/<hex_id:build_id>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, BuildDetailSchema)
@login_required
def build_info(app, build_id):
    """One build, with its log."""
    name = visible_app(app).name
    build = services().builds.get(name, build_id)
    return {**build.to_dict(), "log": services().builds.log(name, build_id)}


@blp.route("/source", methods=["POST"])
@blp.doc(
    security=SECURITY,
    requestBody={"required": True, "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                       "format": "binary"}}}},
    responses={"200": {"description": "The build log as it happens, one JSON object per line: "
                       '{"log": line} ... then {"build": ..., "release": ...} or {"error": message}',
                       "content": {"application/x-ndjson": {}}}},
)
@blp.arguments(SourceBuildArgs, location="query")
@blp.alt_response(413, description="The upload is larger than PAAS_MAX_UPLOAD_BYTES")
@streams_upload
@login_required
def build_source(args, app):
    """Build an uploaded source tarball (what `git push` does) and release it; the log streams back."""
    name = visible_app(app).name
    pushes = services().pushes
    source = pushes.receive(request.stream)
    actor = current_user()

    def work(sink) -> dict:  # runs in a thread, without Flask's app context
        push = pushes.push(name, actor, source, sink, git_sha=args.get("git_sha"),
                           received_since=args.get("received_since"))
        if push.error:
            return {"error": push.error}
        return {"build": BuildSchema().dump(push.build), "release": ReleaseSchema().dump(push.release.masked()),
                "deployment": DeploymentSchema().dump(push.deployment) if push.deployment else None}

    return ndjson_response(work)
