"""Well-formed OpenSSH public keys for tests, without shelling out."""

import base64
import os
import struct


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ed25519_public_key(comment: str = "test@paas") -> str:
    blob = _string(b"ssh-ed25519") + _string(os.urandom(32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"
