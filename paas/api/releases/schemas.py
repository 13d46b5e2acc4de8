from marshmallow import Schema, fields, validate

from ..common import PageArgs
from ..deployments.schemas import DeploymentSchema, WaitArgs


class ReleaseSchema(Schema):
    app = fields.String(required=True)
    version = fields.Integer(required=True)
    summary = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    config = fields.Dict(keys=fields.String(), values=fields.String())
    build_id = fields.String(allow_none=True)
    image = fields.String(allow_none=True)
    procfile = fields.Dict(keys=fields.String(), values=fields.String())
    git_sha = fields.String(allow_none=True)
    failed = fields.Boolean()
    failure_reason = fields.String(allow_none=True)


class RollbackSchema(Schema):
    version = fields.Integer(
        validate=validate.Range(min=1, max=999_999_999), metadata={"description": "Defaults to the previous release"}
    )


class RolledBackSchema(ReleaseSchema):
    deployment = fields.Nested(DeploymentSchema, allow_none=True)


class RevealArgs(Schema):
    reveal = fields.Boolean(load_default=False,
                            metadata={"description": "show config values (to users who may read config)"})


class ReleasePageArgs(PageArgs, RevealArgs):
    pass


class RollbackArgs(WaitArgs, RevealArgs):
    pass
