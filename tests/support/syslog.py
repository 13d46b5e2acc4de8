"""A real syslog receiver for drain tests: TCP on loopback, RFC 6587 octet-counted frames."""

from __future__ import annotations

import socket
import threading
import time


class SyslogListener:
    """A TCP listener on loopback collecting octet-counted RFC 5424 frames with their arrival
    time; it takes every connection (a drain reconnects after an error)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.frames: list[tuple[float, str]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        pending = b""
        with connection:
            while chunk := connection.recv(65536):
                pending += chunk
                while b" " in pending:
                    length, _, rest = pending.partition(b" ")
                    if len(rest) < int(length):
                        break
                    self.frames.append((time.time(), rest[:int(length)].decode()))
                    pending = rest[int(length):]

    def close(self) -> None:
        self.sock.close()
