"""Task kinds the process tests serve from Python workers."""

import os
import time

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


@zpipe.task
def together(payload):
    """``"DIR SECONDS"``: creates DIR/<pid>, then waits until DIR holds 2
    files, that is until another process runs this at the same time; returns
    the pid. Raises TimeoutError after SECONDS (a bounded wait)."""
    directory, seconds = payload.rsplit(" ", 1)
    open(os.path.join(directory, str(os.getpid())), "w").close()
    give_up = time.monotonic() + float(seconds)
    while len(os.listdir(directory)) < 2:
        if time.monotonic() > give_up:
            raise TimeoutError(f"no other process ran 'together' within {seconds} s")
        time.sleep(0.005)
    return os.getpid()
