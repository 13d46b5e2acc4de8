"""The byte stream of an attached one-off run (`paas run`), once the HTTP connection has been
upgraded (docs/design.md, "Interactive runs"): pure framing, shared by the CLI and the API.

Every frame is one kind byte, a 4-byte big-endian length and that many bytes of payload.
From the client: STDIN (bytes for the process), STDIN_EOF (no more input), RESIZE (rows, cols).
From the controller: STDOUT, STDERR (only without a terminal: a terminal merges them), EXIT
(the exit code, ends the stream) and ERROR (a message for the user, ends the stream).
The client is a stranger: unknown kinds, oversized frames and impossible sizes are refused."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import ValidationError

PROTOCOL = "paas-run.1"
HEADER = struct.Struct(">cI")
# A terminal sends keystrokes and Docker sends output in chunks far below this; a bigger frame
# is a peer that wants the controller to buffer for it.
MAX_PAYLOAD = 64 * 1024
MAX_TERMINAL_SIDE = 4096

STDIN, STDIN_EOF, RESIZE = b"i", b"e", b"r"
STDOUT, STDERR, EXIT, ERROR = b"o", b"2", b"x", b"!"
FROM_CLIENT = frozenset({STDIN, STDIN_EOF, RESIZE})
FROM_CONTROLLER = frozenset({STDOUT, STDERR, EXIT, ERROR})
_SIZE = struct.Struct(">HH")
_CODE = struct.Struct(">i")


class ProtocolError(ValidationError):
    """The peer broke the framing: the connection is closed."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large for one frame: split it")
    return HEADER.pack(kind, len(payload)) + payload


def frames(kind: bytes, data: bytes) -> bytes:
    """`data` as as many frames of `kind` as it needs."""
    return b"".join(frame(kind, data[i:i + MAX_PAYLOAD]) for i in range(0, len(data), MAX_PAYLOAD))


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, _SIZE.pack(*terminal_size(rows, cols)))


def exit_frame(code: int) -> bytes:
    return frame(EXIT, _CODE.pack(int(code)))


def error_frame(message: str) -> bytes:
    return frame(ERROR, message.encode("utf-8", "replace")[:MAX_PAYLOAD])


def terminal_size(rows: int, cols: int) -> tuple[int, int]:
    """A window size a terminal can have; anything else is refused."""
    if not (isinstance(rows, int) and isinstance(cols, int)
            and 1 <= rows <= MAX_TERMINAL_SIDE and 1 <= cols <= MAX_TERMINAL_SIDE):
        raise ProtocolError(f"A terminal is 1 to {MAX_TERMINAL_SIDE} rows and columns")
    return rows, cols


def parse_resize(payload: bytes) -> tuple[int, int]:
    if len(payload) != _SIZE.size:
        raise ProtocolError("A resize frame carries two 16-bit numbers: rows and columns")
    return terminal_size(*_SIZE.unpack(payload))


def parse_exit(payload: bytes) -> int:
    if len(payload) != _CODE.size:
        raise ProtocolError("An exit frame carries one 32-bit number")
    return _CODE.unpack(payload)[0]


@dataclass
class FrameReader:
    """Bytes in as they arrive, whole frames out; only the kinds `accept` names."""

    accept: frozenset[bytes]
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buffer += data
        out: list[tuple[bytes, bytes]] = []
        while len(self._buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer)
            if kind not in self.accept:
                raise ProtocolError(f"Unknown frame kind {kind!r}")
            if length > MAX_PAYLOAD:
                raise ProtocolError(f"A frame is at most {MAX_PAYLOAD} bytes")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            out.append((kind, bytes(self._buffer[HEADER.size:end])))
            del self._buffer[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes of a frame not complete yet (non-zero at the end of a stream: it was cut)."""
        return len(self._buffer)
