"""TLS: the app's certificate (served by SNI) and tls:force."""

from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, services
from .schemas import CertificateAddSchema, CertificateSchema, TlsForceSchema

blp = Blueprint("tls", __name__, url_prefix="/v1/apps/<app>", description="TLS certificates")


@blp.route("/certs", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, CertificateSchema)
@login_required
def cert_info(app):
    """The app's certificate: names, issuer, validity (never the key)."""
    return services().tls.info(current_user(), app)


@blp.route("/certs", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(CertificateAddSchema)
@blp.response(201, CertificateSchema)
@login_required
def add_cert(body, app):
    """Add or replace the app's certificate: the key must match, it must be valid now, and it
    must cover one of the app's hostnames and none of another app's."""
    return services().tls.add(current_user(), app, body["cert"], body["key"])


@blp.route("/certs", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def remove_cert(app):
    """Remove the app's certificate."""
    services().tls.remove(current_user(), app)


@blp.route("/tls", methods=["PUT"])
@blp.doc(security=SECURITY)
@blp.arguments(TlsForceSchema)
@blp.response(200, TlsForceSchema)
@login_required
def force_tls(body, app):
    """tls:force on or off: plain HTTP answers with a permanent redirect to HTTPS."""
    return {"force": services().tls.force(current_user(), app, body["force"])}
