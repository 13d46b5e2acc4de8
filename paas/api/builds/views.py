"""Builds: list, info (with the log), deploying a prebuilt image, and building uploaded source."""

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint

from paas.domain.errors import ValidationError
from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services, visible_app
from . import streaming
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
@blp.response(201, BuildCreatedSchema)
@login_required
def create_build(body, app):
    """Deploy a prebuilt image: records a build and creates a release with the current config."""
    build, release = services().builds.create_from_image(
        visible_app(app).name, current_user(), body["image"], body.get("procfile")
    )
    return {"build": build, "release": release}


@blp.route("/<build_id>", methods=["GET"])
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
    requestBody={"required": True, "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
    responses={"200": {"description": "The build log as it happens, one JSON object per line: "
                       '{"log": line} ... then {"build": ..., "release": ...} or {"error": message}',
                       "content": {"application/x-ndjson": {}}}},
)
@blp.arguments(SourceBuildArgs, location="query")
@login_required
def build_source(args, app):
    """Build an uploaded source tarball (what `git push` does) and release it; the log streams back."""
    name = visible_app(app).name
    upload = streaming.save_upload(services().settings.data_dir / "uploads", request.stream)
    if upload is None:
        raise ValidationError("The request body must be a tar archive (optionally gzipped) of the source")
    actor = current_user()
    builds = services().builds

    def run(sink):
        try:
            return builds.create_from_source(name, actor, upload, sink, git_sha=args.get("git_sha"))
        finally:
            upload.unlink(missing_ok=True)

    return Response(stream_with_context(streaming.ndjson_build(run)), mimetype="application/x-ndjson")
