"""Releases: list, info, diff, rollback. Config values are masked unless ?reveal=true (a diff's
?show_values=true) is asked by a user who may read the app's config."""

from flask_smorest import Blueprint

from paas.domain.apps import App
from paas.domain.releases import Release, parse_version

from ..common import SECURITY, current_user, login_required, page_of, services, visible_app, wait_for_live
from .schemas import (
    DiffArgs,
    ReleaseDiffSchema,
    ReleasePageArgs,
    ReleaseSchema,
    RevealArgs,
    RollbackArgs,
    RollbackSchema,
    RolledBackSchema,
)

blp = Blueprint("releases", __name__, url_prefix="/v1/apps/<app>/releases", description="Releases")


def present(release: Release, app: App, reveal: bool) -> Release:
    """Values only when asked for, and only to a user who may read config."""
    if reveal and services().config.may_read(current_user(), app):
        return release
    return release.masked()


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(ReleasePageArgs, location="query")
@blp.response(200, page_of(ReleaseSchema))
@login_required
def list_releases(args, app):
    """Releases, newest first (config values masked unless reveal=true)."""
    found = visible_app(app)
    page = services().releases.page(found.name, args["page"], args["per_page"])
    page.results = [present(r, found, args["reveal"]) for r in page.results]
    return page


@blp.route("/<release_version:version>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(RevealArgs, location="query")
@blp.response(200, ReleaseSchema)
@login_required
def release_info(args, app, version):
    """One release: vN or N (config values masked unless reveal=true)."""
    found = visible_app(app)
    return present(services().releases.get(found.name, parse_version(version)), found, args["reveal"])


@blp.route("/<release_version:version>/diff", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(DiffArgs, location="query")
@blp.response(200, ReleaseDiffSchema)
@login_required
def release_diff(args, app, version):
    """What changed: config keys (values masked unless show_values=true), build and commit range,
    Procfile, app.json health checks. Without `to`, what vN changed against the release before it;
    with `to`, from vN to that release."""
    found = visible_app(app)
    to = parse_version(args["to"]) if "to" in args else None
    diff = services().releases.diff(found, current_user(), parse_version(version), to=to,
                                    show_values=args["show_values"])
    return diff.to_dict()


@blp.route("/rollback", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(RollbackSchema, required=False)
@blp.arguments(RollbackArgs, location="query")
@blp.response(201, RolledBackSchema)
@login_required
def rollback(body, args, app):
    """Create (and deploy) a new release with the build and config of vN (default: the previous
    one). Only a release that has a build can be rolled back to."""
    found = visible_app(app)
    release = services().releases.rollback(found.name, current_user(), (body or {}).get("version"))
    deployment = wait_for_live(found.name, release.version, args["wait"])
    shown = present(services().releases.get(found.name, release.version), found, args["reveal"])
    return {**shown.to_dict(), "deployment": deployment}
