"""Users, password hashing and API tokens (stored hashed, never in clear)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from .clock import parse_iso
from .errors import ValidationError
from .patterns import full

USERNAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,39}$"
USERNAME_RE = full(USERNAME_PATTERN)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
# Optional; when given, something@something without spaces (the platform sends no mail).
EMAIL_PATTERN = r"^(?:[^@\s]+@[^@\s]+)?$"
EMAIL_RE = full(EMAIL_PATTERN)
# scrypt parameters: ~30 ms per hash on a small machine, memory 16 MiB.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass
class User:
    username: str
    password_hash: str
    email: str = ""
    is_admin: bool = False
    created_at: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> User:
        return cls(**data)


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise ValidationError(
            "Invalid username: use 2-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def validate_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def validate_email(email: str) -> str:
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email):
        raise ValidationError("Invalid email address")
    return email


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are high-entropy random strings, so a plain SHA-256 is a safe storage form."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class ApiToken:
    """A token's record, stored under its digest. `id` names it in listings and revocation (the
    token and its digest are never shown); tokens of older versions have neither id nor expiry."""

    username: str
    created_at: str
    id: str = ""
    expires_at: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ApiToken:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def expiry(self, ttl: int) -> datetime:
        """When the token stops working (a token without an expiry lives `ttl` from its creation)."""
        if self.expires_at:
            return parse_iso(self.expires_at)
        return parse_iso(self.created_at) + timedelta(seconds=ttl)

    def expired(self, now: datetime, ttl: int) -> bool:
        return now >= self.expiry(ttl)


def new_token_id() -> str:
    """Milliseconds since the epoch, then random: ids sort in the order tokens were issued
    (created_at has one-second precision), and never repeat."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(3)}"


def issue_order(token: ApiToken) -> tuple[str, str]:
    return token.created_at, token.id


def tokens_to_evict(tokens: list[ApiToken], now: datetime, ttl: int, keep: int) -> list[ApiToken]:
    """Before adding one token: the expired ones, and the oldest beyond `keep - 1` of the rest."""
    expired = [t for t in tokens if t.expired(now, ttl)]
    live = sorted((t for t in tokens if not t.expired(now, ttl)), key=issue_order)
    excess = max(0, len(live) - (keep - 1))
    return expired + live[:excess]


@dataclass
class FailureWindow:
    """Failed attempts counted in a fixed window that starts at the first failure (epoch seconds)."""

    start: float = 0.0
    count: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FailureWindow:
        return cls(start=float(data.get("start", 0.0)), count=int(data.get("count", 0)))

    def after_failure(self, now: float, length: float) -> FailureWindow:
        if now - self.start >= length:
            return FailureWindow(start=now, count=1)
        return FailureWindow(start=self.start, count=self.count + 1)

    def retry_after(self, now: float, length: float, limit: int) -> int | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        if self.count < limit or now - self.start >= length:
            return None
        return max(1, math.ceil(self.start + length - now))
