"""zpipe for Python: task functions in Python, jobs submitted from Python.

Workers::

    import zpipe

    @zpipe.task
    def square(n: int) -> int:
        return n * n

    if __name__ == "__main__":
        zpipe.serve(ventilator="tcp://10.0.0.1:5557", sink="tcp://10.0.0.1:5558", processes=8)

or ``python3 -m zpipe.worker mymodule --ventilator ... --sink ...``. The
worker speaks shared/PROTOCOL.md in pure Python (pyzmq and msgpack) and
serves jobs beside the C++ zpipe-worker.

Submitting (needs the C++ engine, ``zpipe._engine``)::

    with zpipe.Job("square", bind="tcp://0.0.0.0:5557", min_workers=4) as job:
        job.submit(range(1_000_000))
        for r in job.results():
            print(r.task_id, r.ok, r.value, r.error, r.worker)

    zpipe.map("square", range(10))   # [0, 1, 4, ...] in input order

``python3 -m zpipe --help`` lists the commands.
"""

from ._registry import registered, task

__all__ = ["task", "serve", "registered", "Job", "Result", "map", "JobFailed"]


def __getattr__(name):
    # The worker (pyzmq, msgpack) and the submitting side (the C++ engine) load
    # only when asked for: a module that only registers tasks, and --help,
    # need neither.
    if name == "serve":
        from ._worker import serve
        return serve
    if name in ("Job", "Result", "map", "JobFailed"):
        from . import job
        return getattr(job, name)
    raise AttributeError(f"module 'zpipe' has no attribute {name!r}")
