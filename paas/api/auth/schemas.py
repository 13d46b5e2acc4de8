from marshmallow import Schema, fields, validate


class UserSchema(Schema):
    username = fields.String(required=True)
    email = fields.String()
    is_admin = fields.Boolean()
    created_at = fields.String()


class RegisterSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
    email = fields.String(load_default="", validate=validate.Length(max=254))


class RegisteredSchema(UserSchema):
    token = fields.String(required=True)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    username = fields.String(required=True)
    token = fields.String(required=True)
