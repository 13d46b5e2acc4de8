from marshmallow import Schema, fields


class GroupSchema(Schema):
    desired_total = fields.Integer()
    desired_canaries = fields.Integer()
    placed_canaries = fields.Integer()
    healthy = fields.Integer()
    unhealthy = fields.Integer()
    promoted = fields.Boolean()


class MarkSchema(Schema):
    """One phase of a build's or a deployment's timeline (epoch seconds)."""

    phase = fields.String(required=True, metadata={"description": "receive, detect, dependencies, assemble, "
                                                   "publish (builds); start, first_check, healthy, promote, routed, "
                                                   "drain (deployments)"})
    started_at = fields.Float(required=True)
    ended_at = fields.Float(allow_none=True, metadata={"description": "null while the phase runs"})
    duration = fields.Float(allow_none=True, metadata={"description": "seconds"})


class FailureSchema(Schema):
    reason = fields.String(required=True)
    instance = fields.String(allow_none=True)
    exit_code = fields.Integer(allow_none=True)
    oom_killed = fields.Boolean()
    check = fields.String(allow_none=True, metadata={"description": "the health check's last result"})
    last_lines = fields.List(fields.String(), metadata={"description": "the instance's last output lines"})


class DeploymentSchema(Schema):
    id = fields.String(required=True)
    app = fields.String(required=True)
    release = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "running, successful, failed or cancelled"})
    phase = fields.String(metadata={"description": "starting, retiring (live; the previous instances stop), "
                                                   "successful, failed or superseded"})
    description = fields.String()
    promoted = fields.Boolean(metadata={"description": "the release is live (serves)"})
    failure = fields.Nested(FailureSchema, allow_none=True)
    groups = fields.Dict(keys=fields.String(), values=fields.Nested(GroupSchema))
    created_at = fields.String()
    updated_at = fields.String()
    finished_at = fields.String()
    timeline = fields.List(fields.Nested(MarkSchema), metadata={"description": "when each phase began and ended"})


class WaitArgs(Schema):
    wait = fields.Boolean(load_default=True, metadata={"description": "wait until the release is live or failed"})
