from marshmallow import Schema, fields, validate

from paas.domain.domains import HOSTNAME_PATTERN, MAX_HOSTNAME_LENGTH

from ..spec import rule


class DomainSchema(Schema):
    domain = fields.String(required=True)
    app = fields.String(required=True)
    created_at = fields.String()


class DomainCreateSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(max=MAX_HOSTNAME_LENGTH + 1),
                           metadata=rule(HOSTNAME_PATTERN))
