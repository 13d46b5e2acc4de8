from marshmallow import Schema, fields, validate

from paas.domain.builds import PROCESS_TYPE_PATTERN

from ..deployments.schemas import DeploymentSchema
from ..spec import rule


class InstanceSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    release = fields.Integer(required=True)
    state = fields.String(required=True)
    health = fields.String(required=True)
    address = fields.String(allow_none=True)
    canary = fields.Boolean()
    started_at = fields.String(allow_none=True)
    restarts = fields.Integer(metadata={"description": "how often the instance was restarted after a crash"})
    exit_code = fields.Integer(allow_none=True, metadata={"description": "of its last crash"})


class PsSchema(Schema):
    instances = fields.List(fields.Nested(InstanceSchema), required=True)
    deployment = fields.Nested(DeploymentSchema, allow_none=True)


class RestartSchema(Schema):
    type = fields.String(validate=validate.Length(max=30),
                         metadata=rule(PROCESS_TYPE_PATTERN, description="accepted; all types roll"))


class RestartedSchema(Schema):
    deployment = fields.Nested(DeploymentSchema, allow_none=True)
