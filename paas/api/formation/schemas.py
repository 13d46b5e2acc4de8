from marshmallow import Schema, fields, validate

from ..deployments.schemas import DeploymentSchema


class ProcessSchema(Schema):
    type = fields.String(required=True)
    quantity = fields.Integer(required=True)
    memory = fields.String(allow_none=True)
    cpu = fields.Float(allow_none=True)
    healthcheck = fields.String(allow_none=True)


class UpdatePolicySchema(Schema):
    min_healthy_time = fields.Float(validate=validate.Range(min=0, max=3600))
    healthy_deadline = fields.Float(validate=validate.Range(min=1, max=3600))
    drain_time = fields.Float(validate=validate.Range(min=0, max=300))
    stop_timeout = fields.Float(validate=validate.Range(min=0, max=300))


class FormationSchema(Schema):
    processes = fields.List(fields.Nested(ProcessSchema), required=True)
    update = fields.Nested(UpdatePolicySchema)
    deployment = fields.Nested(DeploymentSchema, allow_none=True)


class LimitSchema(Schema):
    memory = fields.String(allow_none=True, validate=validate.Length(max=20))
    cpu = fields.Float(allow_none=True, validate=validate.Range(min=0.01, max=64))


class FormationChangeSchema(Schema):
    quantities = fields.Dict(
        keys=fields.String(validate=validate.Length(max=30)),
        values=fields.Integer(validate=validate.Range(min=0, max=100)),
        metadata={"description": "scale: no release, no restart"},
    )
    limits = fields.Dict(keys=fields.String(validate=validate.Length(max=30)), values=fields.Nested(LimitSchema),
                         metadata={"description": "memory/CPU per type; rolls fresh instances"})
    healthchecks = fields.Dict(keys=fields.String(validate=validate.Length(max=30)),
                               values=fields.String(allow_none=True, validate=validate.Length(max=256)),
                               metadata={"description": "HTTP path per type (null: TCP check); rolls instances"})
    update = fields.Nested(UpdatePolicySchema, metadata={"description": "canary timings of this app"})
