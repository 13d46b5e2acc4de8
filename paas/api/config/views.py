"""Config vars: get, and set/unset (each change is a new release)."""

from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, services, visible_app, wait_for_live
from ..deployments.schemas import WaitArgs
from .schemas import ConfigChangedSchema, ConfigChangeSchema, ConfigSchema

blp = Blueprint("config", __name__, url_prefix="/v1/apps/<app>/config", description="Config vars")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, ConfigSchema)
@login_required
def get_config(app):
    """The current release's config vars."""
    return {"values": services().config.get(visible_app(app).name)}


@blp.route("", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(ConfigChangeSchema)
@blp.arguments(WaitArgs, location="query")
@blp.response(200, ConfigChangedSchema)
@login_required
def change_config(body, args, app):
    """Set and unset config vars; creates (and deploys) a release unless nothing changes."""
    name = visible_app(app).name
    release = services().config.change(name, current_user(), body["values"])
    values = release.config if release else services().config.get(name)
    deployment = wait_for_live(name, release.version, args["wait"]) if release else None
    return {"values": values, "release": services().releases.get(name, release.version) if release else None,
            "deployment": deployment}
