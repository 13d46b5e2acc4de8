from marshmallow import Schema, fields, validate

from paas.domain.apps import APP_NAME_MAX, APP_NAME_MIN, APP_NAME_PATTERN

from ..spec import rule


class AppSchema(Schema):
    name = fields.String(required=True)
    owner = fields.String(required=True)
    created_at = fields.String()
    git_url = fields.String()
    release = fields.Integer(allow_none=True, metadata={"description": "Current release version"})
    domains = fields.List(fields.String())
    web_url = fields.String(metadata={"description": "where the app answers through the router"})
    maintenance = fields.Boolean(metadata={"description": "the router answers its hosts with a 503 page"})


class AppCreateSchema(Schema):
    name = fields.String(validate=validate.Length(max=64), metadata=rule(
        APP_NAME_PATTERN, APP_NAME_MIN, APP_NAME_MAX, description="Generated when omitted"))
