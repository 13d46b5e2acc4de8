from marshmallow import Schema, fields, validate

from paas.domain.users import USERNAME_PATTERN

from ..spec import rule


class PermSchema(Schema):
    username = fields.String(required=True)
    role = fields.String(required=True, metadata={"description": "owner or collaborator"})


class PermCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64), metadata=rule(USERNAME_PATTERN))
