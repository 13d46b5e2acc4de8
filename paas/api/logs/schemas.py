from marshmallow import Schema, fields, validate


class LogArgs(Schema):
    tail = fields.Integer(load_default=100, validate=validate.Range(min=0, max=10000))
    follow = fields.Boolean(load_default=False)
    type = fields.String(validate=validate.Length(max=30))
