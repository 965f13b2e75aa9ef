"""The job fingerprint of PROTOCOL.md §5.1, in pure Python.

A sink keeps a job under its fingerprint, and ``--resume`` continues the job
whose fingerprint matches, so a tool that prepares or checks a job (a
submitter of its own, a script that inspects journals) computes it here
without the C++ engine::

    of_count("square", 3)               # 'fnv1a64:9f28e71a99b2fede:14'
    of_input("upper", b"a\\nb\\n")       # what zpipe-ventilator --input hashes
    of_values("square", [1, "x", None])  # what zpipe.Job hashes

FNV-1a guards against an input that changed by accident, not against a forger.
"""

from . import protocol

_OFFSET_BASIS = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


class Fingerprint:
    """64-bit FNV-1a over the bytes given to :meth:`update`, and their count.

    Starts with the kind's UTF-8 bytes, one ``0x00`` byte and ``prefix``
    (``"count:"``, ``"input:"`` or ``"values:"``): feed it the rest as it is
    read, then read :meth:`text`.
    """

    def __init__(self, kind, prefix):
        self._hash, self._count = _OFFSET_BASIS, 0
        self.update(kind.encode("utf-8", "surrogateescape") + b"\0" + prefix.encode("ascii"))

    def update(self, data):
        """Hashes ``data`` (bytes-like) after what came before. Returns self."""
        h = self._hash
        for byte in bytes(data):
            h = ((h ^ byte) * _PRIME) & _MASK
        self._hash = h
        self._count += len(data)
        return self

    def text(self):
        """Returns ``fnv1a64:<16 lowercase hex digits>:<bytes hashed>``."""
        return f"fnv1a64:{self._hash:016x}:{self._count}"


def of_count(kind, count):
    """The fingerprint of a ``--count`` job of ``count`` tasks. Raises ValueError for a negative count."""
    if type(count) is not int or count < 0:
        raise ValueError(f"a count is a non-negative int, got {count!r}")
    return Fingerprint(kind, "count:").update(str(count).encode("ascii")).text()


def of_input(kind, data):
    """The fingerprint of an ``--input`` job whose input is ``data``: every
    byte as read (bytes, or an iterable of bytes chunks such as a file opened
    with ``"rb"``), line endings and a missing final newline included."""
    fingerprint = Fingerprint(kind, "input:")
    for chunk in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
        fingerprint.update(chunk)
    return fingerprint.text()


def of_values(kind, payloads):
    """The fingerprint of a job submitted as values (``zpipe.Job``): each
    payload's canonical msgpack encoding in task order; ``bytes`` count as
    the str the engine sends. Raises ValueError for a payload that is not an
    int (64-bit), str, bytes or None."""
    fingerprint = Fingerprint(kind, "values:")
    for payload in payloads:
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", "surrogateescape")
        elif isinstance(payload, int) and not isinstance(payload, bool):
            if not protocol.INT_MIN <= payload <= protocol.INT_MAX:
                raise ValueError(f"payload {payload} is outside the 64-bit integer range")
            payload = int(payload)
        elif payload is not None and not isinstance(payload, str):
            raise ValueError(f"a payload of type {type(payload).__name__} is not a zpipe value")
        fingerprint.update(protocol.encode(payload))
    return fingerprint.text()
