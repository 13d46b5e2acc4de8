from marshmallow import Schema, fields, validate


class ProcessSchema(Schema):
    type = fields.String(required=True)
    quantity = fields.Integer(required=True)
    memory = fields.String(allow_none=True)
    cpu = fields.Float(allow_none=True)


class FormationSchema(Schema):
    processes = fields.List(fields.Nested(ProcessSchema), required=True)


class ScaleSchema(Schema):
    quantities = fields.Dict(
        keys=fields.String(validate=validate.Length(max=30)),
        values=fields.Integer(validate=validate.Range(min=0, max=100)),
        required=True,
    )
