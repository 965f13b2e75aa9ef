"""Python versions of the C++ worker's built-in kinds ``square``, ``sleep``
and ``fail`` (PROTOCOL.md §5.2), so that a Python worker can serve the same
jobs: ``python3 -m zpipe.worker zpipe.builtin_kinds``."""

import time

from ._registry import task

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


def integer_payload(payload, kind):
    """An integer payload as §5.2 reads it: an int, or a str of decimal digits
    with blanks around and one sign. Raises ValueError."""
    if type(payload) is int:
        return payload
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    if isinstance(text, str):
        digits = text.rstrip(" \t\r").lstrip(" \t")
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body and body.isascii() and body.isdigit():
            number = int(digits)
            if _INT_MIN <= number <= _INT_MAX:
                return number
    shown = "" if payload is None else text
    raise ValueError(f"{kind} needs an integer payload, got '{shown}'")


@task
def square(n):
    """n·n; fails when n is not an integer or n·n leaves 64 bits."""
    n = integer_payload(n, "square")
    result = n * n
    if result > _INT_MAX:
        raise OverflowError(f"square of {n} overflows a 64-bit integer")
    return result


@task
def sleep(ms):
    """Sleeps ``ms`` milliseconds (0 .. 86 400 000); returns ms."""
    ms = integer_payload(ms, "sleep")
    if not 0 <= ms <= 86_400_000:
        raise ValueError(f"sleep takes 0..86400000 ms, got {ms}")
    time.sleep(ms / 1000)
    return ms


@task
def fail(payload):
    """Always fails."""
    shown = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ("" if payload is None else payload)
    raise RuntimeError(f"task of kind 'fail' failed as asked (payload '{shown}')")
