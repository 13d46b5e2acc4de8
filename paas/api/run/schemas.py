from marshmallow import Schema, fields, validate


class RunSchema(Schema):
    command = fields.String(required=True, validate=validate.Length(min=1, max=4096))
