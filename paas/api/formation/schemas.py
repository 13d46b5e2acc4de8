from marshmallow import Schema, fields, validate

from paas.domain.builds import PROCESS_TYPE_PATTERN
from paas.domain.formation import HEALTHCHECK_PATTERN, MAX_QUANTITY, MEMORY_PATTERN

from ..deployments.schemas import DeploymentSchema
from ..spec import rule


class ProcessSchema(Schema):
    type = fields.String(required=True)
    quantity = fields.Integer(required=True)
    memory = fields.String(allow_none=True)
    cpu = fields.Float(allow_none=True)
    healthcheck = fields.String(allow_none=True)


class UpdatePolicySchema(Schema):
    """In a change, null clears the app's own value: the build's app.json (or the default) applies."""

    min_healthy_time = fields.Float(allow_none=True, validate=validate.Range(min=0, max=3600))
    healthy_deadline = fields.Float(allow_none=True, validate=validate.Range(min=1, max=3600))
    drain_time = fields.Float(allow_none=True, validate=validate.Range(min=0, max=300))
    stop_timeout = fields.Float(allow_none=True, validate=validate.Range(min=0, max=300))
    check_failures = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=100))


class AppJsonSchema(Schema):
    healthchecks = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    update = fields.Dict(keys=fields.String(), values=fields.Float())


class FormationSchema(Schema):
    processes = fields.List(fields.Nested(ProcessSchema), required=True)
    update = fields.Nested(UpdatePolicySchema)
    update_set = fields.List(fields.String(), metadata={
        "description": "the update fields this app set itself; they beat the build's app.json"})
    app_json = fields.Nested(AppJsonSchema, allow_none=True, metadata={
        "description": "what the current build's app.json declares; the app's own settings win over it"})
    deployment = fields.Nested(DeploymentSchema, allow_none=True)


class LimitSchema(Schema):
    memory = fields.String(allow_none=True, validate=validate.Length(max=20), metadata=rule(MEMORY_PATTERN))
    cpu = fields.Float(allow_none=True, validate=validate.Range(min=0.01, max=64))


class FormationChangeSchema(Schema):
    quantities = fields.Dict(
        keys=fields.String(validate=validate.Length(max=30), metadata=rule(PROCESS_TYPE_PATTERN)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_QUANTITY)),
        metadata={"description": "scale: no release, no restart"},
    )
    limits = fields.Dict(keys=fields.String(validate=validate.Length(max=30), metadata=rule(PROCESS_TYPE_PATTERN)), values=fields.Nested(LimitSchema),
                         metadata={"description": "memory/CPU per type; rolls fresh instances"})
    healthchecks = fields.Dict(keys=fields.String(validate=validate.Length(max=30), metadata=rule(PROCESS_TYPE_PATTERN)),
                               values=fields.String(allow_none=True, validate=validate.Length(max=256),
                                                     metadata=rule(HEALTHCHECK_PATTERN)),
                               metadata={"description": "HTTP path per type (null: TCP check); rolls instances"})
    update = fields.Nested(UpdatePolicySchema, metadata={"description": "canary timings of this app"})
