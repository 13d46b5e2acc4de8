from marshmallow import Schema, fields, validate

from paas.domain.users import EMAIL_PATTERN, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN

from ..spec import rule


class UserSchema(Schema):
    username = fields.String(required=True)
    email = fields.String()
    is_admin = fields.Boolean()
    created_at = fields.String()


class RegisterSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64), metadata=rule(USERNAME_PATTERN))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=MAX_PASSWORD_LENGTH),
                             metadata=rule(min_length=MIN_PASSWORD_LENGTH))
    email = fields.String(load_default="", validate=validate.Length(max=254), metadata=rule(EMAIL_PATTERN))


class RegisteredSchema(UserSchema):
    token = fields.String(required=True)


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    username = fields.String(required=True)
    token = fields.String(required=True)


class TokenInfoSchema(Schema):
    id = fields.String(required=True, metadata={"description": "names the token for auth:tokens:revoke"})
    created_at = fields.String(required=True)
    expires_at = fields.String(required=True)
    current = fields.Boolean(required=True, metadata={"description": "the token of this request"})
