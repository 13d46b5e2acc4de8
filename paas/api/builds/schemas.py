from marshmallow import Schema, fields, validate

from paas.domain.builds import IMAGE_PATTERN, MAX_COMMAND_LENGTH, MAX_IMAGE_LENGTH, PROCESS_TYPE_PATTERN

from ..deployments.schemas import DeploymentSchema, MarkSchema
from ..releases.schemas import ReleaseSchema
from ..spec import FullMatch, rule


class BuildSchema(Schema):
    id = fields.String(required=True)
    app = fields.String(required=True)
    image = fields.String(required=True)
    git_sha = fields.String(allow_none=True)
    procfile = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    source = fields.String()
    created_by = fields.String()
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    timeline = fields.List(fields.Nested(MarkSchema), metadata={"description": "when each phase began and ended"})


class BuildCreateSchema(Schema):
    image = fields.String(required=True, validate=validate.Length(max=MAX_IMAGE_LENGTH), metadata=rule(IMAGE_PATTERN))
    procfile = fields.Dict(
        keys=fields.String(validate=validate.Length(max=30), metadata=rule(PROCESS_TYPE_PATTERN)),
        values=fields.String(validate=validate.Length(max=MAX_COMMAND_LENGTH)),
        metadata={"description": "process type -> command; default: web runs the image's CMD"},
    )


class BuildCreatedSchema(Schema):
    build = fields.Nested(BuildSchema, required=True)
    release = fields.Nested(ReleaseSchema, required=True)
    deployment = fields.Nested(DeploymentSchema, allow_none=True)


class BuildDetailSchema(BuildSchema):
    digest = fields.String(allow_none=True)
    duration = fields.Float(allow_none=True)
    size = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    log = fields.String(metadata={"description": "The whole build log"})


class SourceBuildArgs(Schema):
    git_sha = fields.String(validate=FullMatch(r"^[0-9a-f]{7,64}$"), metadata={"description": "commit built"})
    received_since = fields.Float(metadata={"description": "epoch seconds when the push reached the gateway "
                                            "(the timeline's receive phase starts there; at most 10 minutes back)"})
