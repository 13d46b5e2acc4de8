from marshmallow import Schema, fields, validate

from paas.domain.keys import KEY_NAME_PATTERN, KEY_TYPES

from ..spec import rule

# One OpenSSH line: TYPE BASE64 [COMMENT] (the key data is checked further by the server).
PUBLIC_KEY_PATTERN = r"^(?:" + "|".join(sorted(KEY_TYPES)) + r") [A-Za-z0-9+/]{20,}={0,2}(?: [^\n]*)?$"


class KeySchema(Schema):
    name = fields.String(required=True)
    fingerprint = fields.String(required=True)
    public = fields.String(required=True)
    created_at = fields.String()


class KeyCreateSchema(Schema):
    public = fields.String(required=True, validate=validate.Length(max=16384), metadata=rule(PUBLIC_KEY_PATTERN))
    name = fields.String(validate=validate.Length(max=64), metadata=rule(KEY_NAME_PATTERN))
