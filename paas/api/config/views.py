"""Config vars: get, and set/unset (each change is a new release)."""

from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, services, visible_app
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
@blp.response(200, ConfigChangedSchema)
@login_required
def change_config(body, app):
    """Set and unset config vars; creates a release unless nothing changes."""
    name = visible_app(app).name
    release = services().config.change(name, current_user(), body["values"])
    values = release.config if release else services().config.get(name)
    return {"values": values, "release": release}
