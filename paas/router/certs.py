"""TLS certificates for app domains: validate a PEM certificate (chain) and its private key.

Standard library only: OpenSSL itself (through the ssl module) checks that the key matches the
certificate and that both parse, and decodes the leaf certificate's names and dates.

Private keys are never printed, logged or put into an error message; they touch the disk only
in a private temporary directory (mode 0700, files 0600, in /dev/shm when there is one), which
is removed before validate() returns.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from paas.domain.errors import ValidationError

MAX_CERT_BYTES = 64 * 1024  # a leaf and its chain
MAX_KEY_BYTES = 16 * 1024
# A certificate valid from a few minutes in the future is accepted (clock skew).
CLOCK_SKEW = 300.0

_PEM_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_KEY_LABELS = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}
_HOST_RE = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$")


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

    def covers(self, host: str) -> bool:
        """True if the certificate is valid for host (exact name, or a one-label wildcard)."""
        return any(name_matches(name, host) for name in self.names)

    def expires_in(self, now: float | None = None) -> float:
        return self.not_after.timestamp() - (time.time() if now is None else now)

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
    private key: both parse, the key matches the leaf, the leaf is valid now and names at least
    one DNS name. With hosts, at least one of them must be covered by the certificate.

    Returns the leaf's CertificateInfo; raises ValidationError (whose message never contains
    key material) otherwise."""
    cert_text = _text(cert_pem, "certificate", MAX_CERT_BYTES)
    key_text = _text(key_pem, "private key", MAX_KEY_BYTES)
    certs = [m for m in _PEM_RE.finditer(cert_text) if m["label"] == "CERTIFICATE"]
    if not certs:
        raise ValidationError("The certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    keys = list(_PEM_RE.finditer(key_text))
    if any("ENCRYPTED" in m["label"] or "ENCRYPTED" in m["body"] for m in keys):
        raise ValidationError("The private key is encrypted: give it without a passphrase")
    keys = [m for m in keys if m["label"] in _KEY_LABELS]
    if len(keys) != 1:
        raise ValidationError("The private key must be exactly one unencrypted PEM private key")
    leaf = certs[0].group(0)
    chain = "\n".join(m.group(0) for m in certs) + "\n"
    try:
        der = ssl.PEM_cert_to_DER_cert(leaf)
    except ValueError:
        raise ValidationError("The certificate is not valid PEM") from None

    with _private_dir() as tmp:
        cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
        _write_private(cert_file, chain)
        _write_private(key_file, keys[0].group(0) + "\n")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except ssl.SSLError as exc:
            raise ValidationError(_ssl_message(exc)) from None
        try:
            decoded = ssl._ssl._test_decode_cert(str(cert_file))  # type: ignore[attr-defined]
        except (ssl.SSLError, ValueError):
            raise ValidationError("The certificate could not be decoded") from None

    info = _info(decoded, der, len(certs))
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


def make_self_signed(names: list[str], days: int = 30) -> tuple[str, str]:
    """A self-signed certificate and its key (PEM) for names, via the openssl CLI: for tests,
    benchmarks and a development platform domain. Never for production."""
    if not names or not all(_HOST_RE.match(n) for n in names):
        raise ValueError("names must be DNS names")
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("the openssl command is missing (scripts/install.sh installs it)")
    with _private_dir() as tmp:
        san = ",".join(f"DNS:{n}" for n in names)
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"), "-days", str(days),
             "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return (tmp / "cert.pem").read_text(), (tmp / "key.pem").read_text()


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
    return pem


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise ValidationError("The private key is encrypted: give it without a passphrase")


def _ssl_message(exc: ssl.SSLError) -> str:
    reason = (exc.reason or str(exc)).upper()
    if "KEY_VALUES_MISMATCH" in reason or "MISMATCH" in reason:
        return "The private key does not match the certificate"
    if "KEY_TOO_SMALL" in reason or "TOO_WEAK" in reason:
        return "The key or the certificate's signature is too weak (use RSA >= 2048 bits or ECDSA)"
    if "PEM" in reason or "ASN1" in reason or "NO_START_LINE" in reason or "BAD_BASE64" in reason:
        return "The certificate or the private key is not valid PEM"
    # OpenSSL reasons name a failure, never key contents.
    return f"The certificate and key were rejected: {exc.reason or 'unknown reason'}"


def _info(decoded: dict, der: bytes, chain_length: int) -> CertificateInfo:
    subject = {k: v for rdn in decoded.get("subject", ()) for k, v in rdn}
    issuer = {k: v for rdn in decoded.get("issuer", ()) for k, v in rdn}
    names: list[str] = []
    for kind, value in decoded.get("subjectAltName", ()):
        value = value.lower().rstrip(".")
        if kind == "DNS" and _HOST_RE.match(value) and value not in names:
            names.append(value)
    cn = subject.get("commonName")
    if cn and _HOST_RE.match(cn.lower()) and cn.lower() not in names:
        names.append(cn.lower())
    return CertificateInfo(
        names=tuple(names),
        common_name=cn,
        issuer=", ".join(f"{k}={v}" for k, v in issuer.items()),
        not_before=_when(decoded["notBefore"]),
        not_after=_when(decoded["notAfter"]),
        fingerprint=fingerprint(der),
        chain_length=chain_length,
        self_signed=decoded.get("subject") == decoded.get("issuer"),
    )


def _when(value: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), UTC)


@contextmanager
def _private_dir() -> Iterator[Path]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="paas-cert-", dir=base))  # mode 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
