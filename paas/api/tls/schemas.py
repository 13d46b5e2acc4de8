from marshmallow import Schema, fields, validate

from ..spec import StrictBoolean


class CertificateSchema(Schema):
    names = fields.List(fields.String(), required=True)
    common_name = fields.String(allow_none=True)
    issuer = fields.String()
    not_before = fields.String()
    not_after = fields.String()
    fingerprint = fields.String()
    chain_length = fields.Integer()
    self_signed = fields.Boolean()


class CertificateAddSchema(Schema):
    cert = fields.String(required=True, validate=validate.Length(max=64 * 1024),
                         metadata={"description": "PEM certificate, leaf first, then intermediates"})
    key = fields.String(required=True, load_only=True, validate=validate.Length(max=16 * 1024),
                        metadata={"description": "PEM private key, unencrypted; never returned"})


class TlsForceSchema(Schema):
    force = StrictBoolean(required=True, metadata={"description": "redirect HTTP to HTTPS"})
