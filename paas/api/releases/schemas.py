from marshmallow import Schema, fields, validate

from paas.domain.releases import VERSION_PATTERN

from ..common import PageArgs
from ..deployments.schemas import DeploymentSchema, WaitArgs
from ..spec import FullMatch, rule


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
    formation = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True, metadata={
        "description": "the formation the release was made under (web.quantity, web.memory, "
                       "update.<setting>, ...); null for releases made before releases recorded it"})


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


class DiffArgs(Schema):
    to = fields.String(
        validate=FullMatch(VERSION_PATTERN),
        metadata=rule(max_length=10, description=(
            "vN or N: diff from the path's version to this one; without it, the path's version is "
            "diffed against the release before it")),
    )
    show_values = fields.Boolean(
        load_default=False, metadata={"description": "show config values (to users who may read config)"})


class ChangeSchema(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["added", "removed", "changed"]))
    before = fields.String(allow_none=True, metadata={"description": "null when added; ***** when masked"})
    after = fields.String(allow_none=True, metadata={"description": "null when removed; ***** when masked"})


class BuildChangeSchema(Schema):
    before_build = fields.String(allow_none=True)
    after_build = fields.String(allow_none=True)
    before_image = fields.String(allow_none=True)
    after_image = fields.String(allow_none=True)
    before_git_sha = fields.String(allow_none=True)
    after_git_sha = fields.String(allow_none=True)
    commit_range = fields.String(allow_none=True, metadata={"description": "git's old..new, e.g. a6b2426..9f01c2d"})


class ReleaseDiffSchema(Schema):
    app = fields.String(required=True)
    from_version = fields.Integer(allow_none=True, metadata={"description": "null: v1, diffed against nothing"})
    to_version = fields.Integer(required=True)
    values_shown = fields.Boolean(required=True, metadata={"description": "false: config values are *****"})
    config = fields.List(fields.Nested(ChangeSchema), required=True)
    build = fields.Nested(BuildChangeSchema, allow_none=True, metadata={"description": "null: the same build"})
    procfile = fields.List(fields.Nested(ChangeSchema), required=True)
    healthchecks = fields.List(fields.Nested(ChangeSchema), required=True, metadata={
        "description": "what each build's app.json declares: per process type, and update.<setting>"})
    formation = fields.List(fields.Nested(ChangeSchema), required=True, metadata={
        "description": "scale, limits, health checks and update settings: <type>.quantity, <type>.memory, "
                       "<type>.cpu, <type>.healthcheck, update.<setting>"})
    not_recorded = fields.List(fields.String(), required=True, metadata={
        "description": "what these releases do not record, so a diff cannot show (formation, limits: "
                       "releases made before releases recorded their formation)"})
