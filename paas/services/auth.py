"""Registration, login, tokens and the admin's user list."""

from __future__ import annotations

from paas.domain.clock import now_iso
from paas.domain.errors import AuthenticationFailed, PermissionDenied, ValidationError
from paas.domain.ports import TokenStore, UserStore
from paas.domain.users import (
    USERNAME_RE,
    ApiToken,
    User,
    hash_password,
    new_token,
    token_digest,
    validate_password,
    validate_username,
    verify_password,
)

MAX_EMAIL_LENGTH = 254


class AuthService:
    def __init__(self, users: UserStore, tokens: TokenStore):
        self.users = users
        self.tokens = tokens

    def register(self, username: str, password: str, email: str = "") -> tuple[User, str]:
        validate_username(username)
        validate_password(password)
        if email and ("@" not in email or len(email) > MAX_EMAIL_LENGTH):
            raise ValidationError("Invalid email address")
        user = User(username=username, password_hash=hash_password(password), email=email, created_at=now_iso())
        self.users.create(user)
        return user, self._issue_token(user)

    def login(self, username: str, password: str) -> tuple[User, str]:
        user = self.get_user(username)
        if user is None or not verify_password(password, user.password_hash):
            raise AuthenticationFailed("Invalid username or password")
        return user, self._issue_token(user)

    def _issue_token(self, user: User) -> str:
        token = new_token()
        self.tokens.add(token_digest(token), ApiToken(username=user.username, created_at=now_iso()))
        return token

    def authenticate(self, token: str) -> User:
        record = self.tokens.get(token_digest(token)) if token else None
        user = self.users.get(record.username) if record else None
        if user is None:
            raise AuthenticationFailed("Invalid or revoked token: log in again with `paas auth:login`")
        return user

    def logout(self, token: str) -> None:
        self.tokens.revoke(token_digest(token))

    def list_users(self, actor: User) -> list[User]:
        if not actor.is_admin:
            raise PermissionDenied("Only an admin can list users")
        return sorted(self.users.list(), key=lambda u: u.username)

    def get_user(self, username: str) -> User | None:
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            return None
        return self.users.get(username)
