"""SSH public keys: parsing, validation and the OpenSSH SHA256 fingerprint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import asdict, dataclass

from .errors import ValidationError
from .patterns import full

KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$"
KEY_NAME_RE = full(KEY_NAME_PATTERN)
MAX_KEY_LENGTH = 16 * 1024


@dataclass
class SshKey:
    username: str
    name: str
    fingerprint: str
    public: str
    created_at: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SshKey:
        return cls(**data)

    @property
    def fingerprint_id(self) -> str:
        """A path-safe form of the fingerprint, used as the store key."""
        return fingerprint_id(self.fingerprint)


def fingerprint_id(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"

    @property
    def canonical(self) -> str:
        """The key without options, as one authorized_keys line."""
        text = f"{self.key_type} {base64.b64encode(self.blob).decode()}"
        return f"{text} {self.comment}" if self.comment else text


def parse_public_key(text: str) -> ParsedKey:
    """Accept one OpenSSH public key line: TYPE BASE64 [COMMENT]."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Invalid SSH public key: empty")
    if len(text) > MAX_KEY_LENGTH:
        raise ValidationError("Invalid SSH public key: too long")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValidationError("Invalid SSH public key: expected exactly one key line")
    parts = lines[0].split(None, 2)
    if len(parts) < 2:
        raise ValidationError("Invalid SSH public key: expected 'TYPE BASE64 [COMMENT]'")
    key_type, b64 = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    if key_type not in KEY_TYPES:
        raise ValidationError(
            f"Invalid SSH public key: unsupported type {key_type[:40]!r} (supported: {', '.join(sorted(KEY_TYPES))})"
        )
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Invalid SSH public key: the key data is not valid base64") from None
    if len(blob) < 4:
        raise ValidationError("Invalid SSH public key: the key data is truncated")
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length].decode("ascii", "replace") != key_type:
        raise ValidationError("Invalid SSH public key: the key data does not match its type")
    if len(blob) < 4 + length + 16:
        raise ValidationError("Invalid SSH public key: the key data is truncated")
    return ParsedKey(key_type=key_type, blob=blob, comment=comment)


def validate_key_name(name: str) -> str:
    if not isinstance(name, str) or not KEY_NAME_RE.match(name):
        raise ValidationError("Invalid key name: 1-64 letters, digits or _.@+- characters")
    return name


def default_key_name(parsed: ParsedKey) -> str:
    """The key's comment when it makes a valid name (e.g. alice@laptop), else a fingerprint prefix."""
    if parsed.comment and KEY_NAME_RE.match(parsed.comment):
        return parsed.comment
    return parsed.fingerprint.removeprefix("SHA256:")[:12].replace("/", "_").replace("+", "-")
