from marshmallow import Schema, fields

from ..deployments.schemas import DeploymentSchema
from ..releases.schemas import ReleaseSchema


class ConfigSchema(Schema):
    values = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ConfigChangeSchema(Schema):
    values = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        required=True,
        metadata={"description": "KEY: value sets, KEY: null unsets"},
    )


class ConfigChangedSchema(ConfigSchema):
    release = fields.Nested(ReleaseSchema, allow_none=True, metadata={"description": "null when nothing changed"})
    deployment = fields.Nested(DeploymentSchema, allow_none=True)
