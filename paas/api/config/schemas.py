from marshmallow import Schema, fields

from paas.domain.config import CONFIG_KEY_PATTERN, MAX_KEY_LENGTH, MAX_VALUE_BYTES

from ..deployments.schemas import DeploymentSchema
from ..releases.schemas import ReleaseSchema
from ..spec import rule


class ConfigSchema(Schema):
    values = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ConfigChangeSchema(Schema):
    values = fields.Dict(
        keys=fields.String(metadata=rule(CONFIG_KEY_PATTERN, 1, MAX_KEY_LENGTH)),
        values=fields.String(allow_none=True, metadata=rule(max_length=MAX_VALUE_BYTES // 4,
                                                            description=f"at most {MAX_VALUE_BYTES} bytes (UTF-8)")),
        required=True,
        metadata={"description": "KEY: value sets, KEY: null unsets"},
    )


class ConfigChangedSchema(ConfigSchema):
    release = fields.Nested(ReleaseSchema, allow_none=True, metadata={"description": "null when nothing changed"})
    deployment = fields.Nested(DeploymentSchema, allow_none=True)
