"""CURVE key files as zpipe-keygen writes them and zpipe-worker reads them
(PROTOCOL.md §9): the first line holds a 40-character Z85 key; ``NAME.key``
(a secret) must be readable by its owner only."""

import os
import stat

from ._pyzmq import require_zmq


def _read_key(path, what):
    try:
        with open(path, "rb") as f:
            key = f.readline().rstrip(b"\r\n")
    except OSError as e:
        raise ValueError(f"{path}: cannot read the {what}: {e.strerror}") from None
    if len(key) != 40:
        raise ValueError(f"{path} does not hold a CURVE {what} (40 Z85 characters)")
    require_zmq()
    from zmq.utils import z85
    try:
        z85.decode(key)
    except Exception:
        raise ValueError(f"{path} does not hold a CURVE {what} (40 Z85 characters)") from None
    return key


def read_secret_key(path):
    """Returns (public, secret) Z85 keys from a secret key file. Raises
    ValueError when it is unreadable, malformed or readable by others."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise ValueError(f"{path}: cannot read the secret key: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others than its owner; run: chmod 600 {path}")
    secret = _read_key(path, "secret key")
    return require_zmq().curve_public(secret), secret


def read_public_key(path):
    """Returns the Z85 public key of a ``.pub`` file. Raises ValueError."""
    return _read_key(path, "public key")
