"""pyzmq, imported only where a socket or a key is made.

``import zpipe``, ``python3 -m zpipe --help``, ``@zpipe.task`` and
``zpipe.fingerprint`` work without it; starting a worker says what to install.
"""


class MissingPyzmq(ImportError):
    """pyzmq is not installed where the worker was started."""


def require_zmq():
    """Returns the ``zmq`` module. Raises MissingPyzmq, saying what to install."""
    try:
        import zmq
    except ImportError as e:
        raise MissingPyzmq(f"the zpipe worker needs pyzmq, which this Python lacks ({e}): "
                           "apt install python3-zmq (Debian), or pip install pyzmq") from None
    return zmq
