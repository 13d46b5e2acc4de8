"""Registration, login (rate limited), tokens (expiring, listed, revocable) and the admin's user list."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from paas.domain.clock import iso, now_iso
from paas.domain.errors import AuthenticationFailed, NotFound, PermissionDenied, RateLimited
from paas.domain.ports import FailureCounter, TokenStore, UserStore
from paas.domain.users import (
    USERNAME_RE,
    ApiToken,
    User,
    hash_password,
    issue_order,
    new_token,
    new_token_id,
    token_digest,
    tokens_to_evict,
    validate_email,
    validate_password,
    validate_username,
    verify_password,
)


@dataclass(frozen=True)
class TokenPolicy:
    ttl: int = 30 * 24 * 3600  # seconds
    max_per_user: int = 20


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per username and per client address within `window` seconds."""

    per_user: int = 5
    per_address: int = 20
    window: int = 60


class LoginThrottle:
    """Counts failed logins per username and per client address (in the store, so every
    controller worker sees the same counts) and refuses attempts over the limit with 429."""

    def __init__(self, by_user: FailureCounter, by_address: FailureCounter, limits: LoginLimits):
        self.by_user = by_user
        self.by_address = by_address
        self.limits = limits

    def _subjects(self, username: str, address: str | None) -> list[tuple[FailureCounter, str, int]]:
        subjects = [(self.by_user, username.lower(), self.limits.per_user)]
        if address:
            subjects.append((self.by_address, address, self.limits.per_address))
        return subjects

    def check(self, username: str, address: str | None) -> None:
        now = time.time()
        for counter, subject, limit in self._subjects(username, address):
            wait = counter.get(subject).retry_after(now, self.limits.window, limit)
            if wait is not None:
                raise RateLimited(f"Too many failed logins: try again in {wait} s", wait)

    def failed(self, username: str, address: str | None) -> None:
        now = time.time()
        for counter, subject, _ in self._subjects(username, address):
            counter.record_failure(subject, now, self.limits.window)

    def succeeded(self, username: str) -> None:
        # The address keeps its count: one right password must not clear a spray of wrong ones.
        self.by_user.clear(username.lower())


class AuthService:
    def __init__(
        self,
        users: UserStore,
        tokens: TokenStore,
        throttle: LoginThrottle | None = None,
        policy: TokenPolicy | None = None,
    ):
        self.users = users
        self.tokens = tokens
        self.throttle = throttle
        self.policy = policy or TokenPolicy()

    def register(self, username: str, password: str, email: str = "") -> tuple[User, str]:
        validate_username(username)
        validate_password(password)
        validate_email(email)
        user = User(username=username, password_hash=hash_password(password), email=email, created_at=now_iso())
        self.users.create(user)
        return user, self._issue_token(user)

    def login(self, username: str, password: str, address: str | None = None) -> tuple[User, str]:
        if self.throttle:
            self.throttle.check(username, address)
        user = self.get_user(username)
        if user is None or not verify_password(password, user.password_hash):
            if self.throttle:
                self.throttle.failed(username, address)
            raise AuthenticationFailed("Invalid username or password")
        if self.throttle:
            self.throttle.succeeded(username)
        return user, self._issue_token(user)

    def _issue_token(self, user: User) -> str:
        token = new_token()
        now = datetime.now(UTC)
        record = ApiToken(username=user.username, created_at=iso(now), id=new_token_id(),
                          expires_at=iso(now + timedelta(seconds=self.policy.ttl)))
        # Every login adds a token; the oldest go once a user has max_per_user of them.
        evict = tokens_to_evict(self.tokens.list_for(user.username), now, self.policy.ttl, self.policy.max_per_user)
        self.tokens.add(token_digest(token), record, evict)
        return token

    def authenticate(self, token: str) -> User:
        digest = token_digest(token) if token else ""
        record = self.tokens.get(digest) if digest else None
        if record is not None and record.expired(datetime.now(UTC), self.policy.ttl):
            self.tokens.revoke(digest)  # expired tokens go the first time they are presented
            raise AuthenticationFailed("Your token has expired: log in again with `paas auth:login`")
        user = self.users.get(record.username) if record else None
        if user is None:
            raise AuthenticationFailed("Invalid or revoked token: log in again with `paas auth:login`")
        return user

    def logout(self, token: str) -> None:
        self.tokens.revoke(token_digest(token))

    def list_tokens(self, actor: User, current: str | None = None) -> list[dict]:
        """The actor's live tokens, oldest first: id and dates, never the token or its digest."""
        now = datetime.now(UTC)
        current_record = self.tokens.get(token_digest(current)) if current else None
        result = []
        for record in sorted(self.tokens.list_for(actor.username), key=issue_order):
            if record.expired(now, self.policy.ttl):
                self.tokens.revoke_id(actor.username, record.id)
                continue
            result.append({"id": record.id, "created_at": record.created_at,
                           "expires_at": iso(record.expiry(self.policy.ttl)),
                           "current": bool(current_record and current_record.id == record.id)})
        return result

    def revoke_token(self, actor: User, token_id: str) -> None:
        if not (isinstance(token_id, str) and token_id.isalnum() and len(token_id) <= 64) or not \
                self.tokens.revoke_id(actor.username, token_id):
            raise NotFound(f"Token {str(token_id)[:20]!r} not found")

    def list_users(self, actor: User) -> list[User]:
        if not actor.is_admin:
            raise PermissionDenied("Only an admin can list users")
        return sorted(self.users.list(), key=lambda u: u.username)

    def get_user(self, username: str) -> User | None:
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            return None
        return self.users.get(username)
