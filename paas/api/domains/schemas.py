from marshmallow import Schema, fields, validate


class DomainSchema(Schema):
    domain = fields.String(required=True)
    app = fields.String(required=True)
    created_at = fields.String()


class DomainCreateSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(max=253))
