from marshmallow import Schema, fields, validate

from paas.domain.logs import DRAIN_URL_PATTERN


class DrainCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048),
                        metadata={"description": "syslog://host:port or https://host/path", "pattern": DRAIN_URL_PATTERN})


class DrainSchema(Schema):
    id = fields.String()
    url = fields.String(metadata={"description": "without userinfo and query (tokens live there)"})
    created_at = fields.String()
