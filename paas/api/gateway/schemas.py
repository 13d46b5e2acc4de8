from marshmallow import Schema, fields, validate


class KeyOwnerArgs(Schema):
    fingerprint = fields.String(required=True, validate=validate.Length(max=100))


class KeyOwnerSchema(Schema):
    username = fields.String(required=True)
    key_name = fields.String(required=True)


class AccessArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64))


class AccessSchema(Schema):
    exists = fields.Boolean(required=True)
    allowed = fields.Boolean(required=True)
    # The app's random id (only when allowed): the gateway starts its repo afresh when it changes.
    id = fields.String(allow_none=True)
