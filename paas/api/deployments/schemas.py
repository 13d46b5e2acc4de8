from marshmallow import Schema, fields


class GroupSchema(Schema):
    desired_total = fields.Integer()
    desired_canaries = fields.Integer()
    placed_canaries = fields.Integer()
    healthy = fields.Integer()
    unhealthy = fields.Integer()
    promoted = fields.Boolean()


class DeploymentSchema(Schema):
    id = fields.String(required=True)
    app = fields.String(required=True)
    release = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "running, successful, failed or cancelled"})
    description = fields.String()
    promoted = fields.Boolean()
    groups = fields.Dict(keys=fields.String(), values=fields.Nested(GroupSchema))
    created_at = fields.String()
    updated_at = fields.String()


class WaitArgs(Schema):
    wait = fields.Boolean(load_default=True, metadata={"description": "wait until the release is live or failed"})
