"""The table of task kinds this Python process can run, filled by @task."""

_TASKS = {}


def task(function=None, *, name=None):
    """Registers a plain function as a zpipe task kind.

    Use as ``@zpipe.task`` (the kind is the function's name) or
    ``@zpipe.task(name="square")``. The function takes one payload, an
    ``int`` (64-bit), a ``str`` or ``None`` (PROTOCOL.md §4; a payload sent
    as msgpack bin arrives as a ``str``, its bytes kept by
    ``surrogateescape``), and returns an ``int``, a ``str``, ``bytes`` (sent
    as a str) or ``None``; another result, or what it raises, becomes a
    failed task whose error is ``TypeName: message``. Returns the function
    unchanged.
    """
    def register(f):
        kind = name or f.__name__
        if not isinstance(kind, str) or not kind:
            raise ValueError("a task kind must be a non-empty string")
        _TASKS[kind] = f
        return f
    if function is not None:
        return register(function)
    return register


def registered():
    """Returns a copy of {kind: function} for every registered task."""
    return dict(_TASKS)
