"""Attacks as a tenant performs them: two ordinary users (a and b) on one platform, real pushes
through the SSH gateway, real API calls. Each test in this package reproduces one finding of
the tenant-isolation review and asserts that it fails with a clear message and that nothing of
the host or of the other tenant changed or leaked."""

from __future__ import annotations

# The same fixtures the e2e and integration suites use: the real gateway (sshd) in front of the
# real controller, users with SSH keys, and the in-process API client.
from tests.e2e.conftest import gateway, make_pusher  # noqa: F401
from tests.integration.conftest import api, flask_app  # noqa: F401
