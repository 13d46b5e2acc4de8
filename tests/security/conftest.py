"""Attacks as a tenant performs them: two ordinary users (a and b) on one platform, real pushes
through the SSH gateway, real API calls. Each test in this package reproduces one finding of
the tenant-isolation review and asserts that it fails with a clear message and that nothing of
the host or of the other tenant changed or leaked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

# The same fixtures the e2e and integration suites use: the real gateway (sshd) in front of the
# real controller, users with SSH keys, and the in-process API client.
from tests.e2e.conftest import gateway, make_pusher  # noqa: F401
from tests.integration.conftest import api, flask_app  # noqa: F401

from ..conftest import unique


@pytest.fixture
def tenant(services, make_pusher):  # noqa: F811 (the imported fixture, requested by name)
    """A user with an SSH key and an app of their own: (pusher, user, app name); destroyed after."""
    pusher = make_pusher("tenant")
    owner = services.auth.get_user(pusher.user.username)
    name = unique("tenant")
    services.apps.create(owner, name)
    yield pusher, owner, name
    services.apps.destroy(owner, name)


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host, on every address (0.0.0.0), that greets whoever connects."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()
