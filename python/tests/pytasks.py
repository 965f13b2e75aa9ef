"""Task kinds the process tests serve from Python workers."""

import zpipe
from zpipe.builtin_kinds import sleep, square  # noqa: F401  (serve the built-ins too)


@zpipe.task
def boom(x):
    """Raises for odd payloads: a failed task carries the type and message."""
    if int(x) % 2:
        raise ValueError(f"odd payload {x}")
    return int(x)


@zpipe.task(name="upper")
def to_upper(text):
    return text.upper()
