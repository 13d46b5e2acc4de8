"""Errors the domain and services raise; the API maps each kind to one HTTP status."""


class PaasError(Exception):
    """Base of every error a user may see. The message must never contain a secret."""


class ValidationError(PaasError):
    """Input breaks a rule (bad name, bad key, oversized value...)."""


class NotFound(PaasError):
    """The thing does not exist, or the caller may not know it exists."""


class Conflict(PaasError):
    """The thing already exists, or a concurrent change won."""


class PermissionDenied(PaasError):
    """The caller is known but may not do this."""


class AuthenticationFailed(PaasError):
    """No valid credentials."""


class StoreUnavailable(PaasError):
    """The backing store (Consul) cannot be reached."""


class ConcurrentUpdate(Conflict):
    """A check-and-set lost against another writer; callers retry."""


class BuildFailed(PaasError):
    """The build of the user's code failed; the message says why (never a config value)."""


class SchedulerUnavailable(PaasError):
    """The scheduler (Docker engine, Nomad) could not be reached or refused the request."""


class Unsupported(PaasError):
    """This platform's adapter cannot do that (e.g. an attached run on Nomad)."""


class StartFailed(PaasError):
    """A release cannot start at all (e.g. its image cannot be pulled): not worth retrying."""


class TooLarge(PaasError):
    """A request body or upload is larger than the platform accepts."""


class RateLimited(PaasError):
    """Too many attempts (e.g. failed logins); retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
