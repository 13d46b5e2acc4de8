from marshmallow import Schema, fields, validate


class KeySchema(Schema):
    name = fields.String(required=True)
    fingerprint = fields.String(required=True)
    public = fields.String(required=True)
    created_at = fields.String()


class KeyCreateSchema(Schema):
    public = fields.String(required=True, validate=validate.Length(max=16384))
    name = fields.String(validate=validate.Length(max=64))
