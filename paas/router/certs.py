"""TLS certificates for app domains: validate a PEM certificate (chain) and its private key with
`cryptography` (x509 parsing, names, validity, key type and size, key/certificate match).

Everything happens in memory: the private key is never written anywhere by this module, never
printed, logged or put into an error message.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from paas.domain.errors import ValidationError

MAX_CERT_BYTES = 64 * 1024  # a leaf and its chain
MAX_KEY_BYTES = 16 * 1024
MAX_CHAIN = 10
MIN_RSA_BITS = 2048
# Curves every TLS client speaks; others are refused rather than served to clients that fail.
EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
# A certificate valid from a few minutes in the future is accepted (clock skew).
CLOCK_SKEW = 300.0

_PEM_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_KEY_LABELS = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}
_HOST_RE = re.compile(r"\A(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}\Z")


@dataclass(frozen=True)
class CertificateInfo:
    """What a certificate says about itself. Holds nothing secret."""

    names: tuple[str, ...]  # DNS subjectAltNames, then the CN when it is a hostname; lowercase
    common_name: str | None
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint: str  # SHA-256 of the leaf's DER, hex with colons (as `openssl x509 -fingerprint`)
    chain_length: int
    self_signed: bool
    # Every name a router may serve the certificate for (Traefik takes the CN, every DNS SAN and
    # every IP SAN): the list a tenant's certificate is judged by, hostname-shaped or not.
    served_names: tuple[str, ...] = ()
    key_type: str = ""

    def covers(self, host: str) -> bool:
        """True if the certificate is valid for host (exact name, or a one-label wildcard)."""
        return any(name_matches(name, host) for name in self.names)

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "common_name": self.common_name,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint": self.fingerprint,
            "chain_length": self.chain_length,
            "self_signed": self.self_signed,
            "served_names": list(self.served_names),
            "key_type": self.key_type,
        }


def name_matches(name: str, host: str) -> bool:
    """RFC 6125 matching as browsers do it: exact, or `*.example.com` for one label only."""
    name, host = name.lower().rstrip("."), host.lower().rstrip(".")
    if name.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return name == host


def validate(
    cert_pem: str | bytes, key_pem: str | bytes, *, now: float | None = None, hosts: list[str] | None = None
) -> CertificateInfo:
    """Check a PEM certificate (leaf first, then any intermediates) and its unencrypted PEM
    private key: both parse, the key is RSA >= 2048 bits, ECDSA on a standard curve or Ed25519,
    it matches the leaf, the leaf is valid now and names at least one DNS name. With hosts, at
    least one of them must be covered by the certificate.

    Returns the leaf's CertificateInfo; raises ValidationError (whose message never contains
    key material) otherwise."""
    cert_text = _text(cert_pem, "certificate", MAX_CERT_BYTES)
    key_text = _text(key_pem, "private key", MAX_KEY_BYTES)
    blocks = [m for m in _PEM_RE.finditer(cert_text) if m["label"] == "CERTIFICATE"]
    if not blocks:
        raise ValidationError("The certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if len(blocks) > MAX_CHAIN:
        raise ValidationError(f"The certificate chain has more than {MAX_CHAIN} certificates")
    try:
        chain = [x509.load_pem_x509_certificate(m.group(0).encode("ascii")) for m in blocks]
    except ValueError:
        raise ValidationError("The certificate is not valid PEM (an X.509 certificate)") from None
    key = _private_key(key_text)
    leaf = chain[0]
    if _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise ValidationError("The private key does not match the certificate")

    info = _info(leaf, len(chain), _key_type(key))
    now = time.time() if now is None else now
    if info.not_after.timestamp() <= now:
        raise ValidationError(f"The certificate expired on {info.not_after.isoformat()}")
    if info.not_before.timestamp() > now + CLOCK_SKEW:
        raise ValidationError(f"The certificate is not valid before {info.not_before.isoformat()}")
    if not info.names:
        raise ValidationError("The certificate names no DNS name (no subjectAltName or hostname CN)")
    if hosts is not None and not any(info.covers(h) for h in hosts):
        raise ValidationError(
            f"The certificate is for {', '.join(info.names)}, which covers none of the app's domains"
        )
    return info


def fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


# ---------------------------------------------------------------- helpers

def _text(pem: str | bytes, what: str, limit: int) -> str:
    if isinstance(pem, bytes):
        try:
            pem = pem.decode("ascii")
        except UnicodeDecodeError:
            raise ValidationError(f"The {what} is not PEM text") from None
    if not isinstance(pem, str) or not pem.strip():
        raise ValidationError(f"The {what} is empty")
    if len(pem) > limit:
        raise ValidationError(f"The {what} is larger than {limit // 1024} KiB")
    if not pem.isascii():
        raise ValidationError(f"The {what} is not PEM text")
    return pem


def _private_key(key_text: str):
    blocks = list(_PEM_RE.finditer(key_text))
    if any("ENCRYPTED" in m["label"] or "ENCRYPTED" in m["body"] for m in blocks):
        raise ValidationError("The private key is encrypted: give it without a passphrase")
    blocks = [m for m in blocks if m["label"] in _KEY_LABELS]
    if len(blocks) != 1:
        raise ValidationError("The private key must be exactly one unencrypted PEM private key")
    try:
        key = serialization.load_pem_private_key(blocks[0].group(0).encode("ascii"), password=None)
    except TypeError:
        raise ValidationError("The private key is encrypted: give it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        # cryptography's messages describe the failure, but say nothing more than this.
        raise ValidationError("The private key is not a valid PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValidationError(f"The RSA key has {key.key_size} bits: use at least {MIN_RSA_BITS}")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, EC_CURVES):
            raise ValidationError(f"The ECDSA key's curve {key.curve.name} is not supported: use P-256 or P-384")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValidationError("The private key must be RSA, ECDSA or Ed25519")
    return key


def _key_type(key) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ECDSA {key.curve.name}"
    return "Ed25519"


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _info(leaf: x509.Certificate, chain_length: int, key_type: str) -> CertificateInfo:
    try:
        cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(cns[0].value) if cns else None
        issuer = leaf.issuer.rfc4514_string()
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = san.get_values_for_type(x509.DNSName)
            ip_names = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            dns_names, ip_names = [], []
    except ValueError:
        raise ValidationError("The certificate could not be decoded") from None
    names: list[str] = []
    for value in dns_names:
        value = value.lower().rstrip(".")
        if _HOST_RE.match(value) and value not in names:
            names.append(value)
    if cn and _HOST_RE.match(cn.lower()) and cn.lower() not in names:
        names.append(cn.lower())
    served = list(dict.fromkeys([*(n.lower() for n in dns_names), *ip_names, *([cn.lower()] if cn else [])]))
    return CertificateInfo(
        names=tuple(names),
        common_name=cn,
        issuer=issuer,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=fingerprint(leaf.public_bytes(serialization.Encoding.DER)),
        chain_length=chain_length,
        self_signed=leaf.subject == leaf.issuer,
        served_names=tuple(served),
        key_type=key_type,
    )

