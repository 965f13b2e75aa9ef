"""Submitting jobs from Python: zpipe.Job and zpipe.map.

Both run zpipe's C++ ventilator and sink in this process, through the
pybind11 module ``zpipe._engine`` (python/engine/engine.cpp); they are not
re-implemented here. Workers, C++ or Python, connect to ``job.endpoint`` as
they would to a zpipe-ventilator, and send results to ``job.sink_endpoint``.
The engine's threads hold no GIL: Python runs while they deal and collect.
"""

import collections
import itertools
import time

import msgpack

try:
    from . import _engine          # installed: pip install ./python with ZPIPE_ENGINE set
except ImportError:
    try:
        import _engine             # a build tree's python/ folder on PYTHONPATH (the tests)
    except ImportError as e:
        _engine = None
        _engine_error = e

Result = collections.namedtuple("Result", "task_id ok value error worker")
Result.__doc__ = """One task's outcome: ``value`` when ``ok``, else ``error`` (the
worker's message); ``worker`` is the name of the worker that ran it."""


class JobFailed(RuntimeError):
    """The job could not run or did not complete (the sink or the ventilator
    ended with an exit status other than 0 or 1, or could not start)."""


_STATUS = {0: "complete", 1: "complete, some tasks failed", 2: "bad options", 3: "could not run",
           4: "cancelled", 130: "stopped"}


class Job:
    """A zpipe job run from Python::

        with zpipe.Job("square", bind="tcp://0.0.0.0:5557", min_workers=4) as job:
            job.submit(range(1_000_000))
            for r in job.results():
                r.task_id, r.ok, r.value, r.error, r.worker

    ``kind`` names what the workers run. Tasks are numbered 1, 2, ... in the
    order submitted; payloads are ``int`` (64-bit), ``str``, ``bytes`` or
    ``None``. ``bind`` is where workers connect (``tcp://127.0.0.1:*`` lets
    the system pick; read it back from ``job.endpoint``), ``sink_bind`` where
    they send results (``job.sink_endpoint``). ``batch`` tasks travel per
    frame; dealing starts once ``min_workers`` workers have said hello.

    ``journal`` is a file where the sink keeps every result durably; a job
    started again with the same ``journal``, the same kind and payloads and
    ``resume=True`` deals only what the journal lacks, and ``results()``
    yields every task's result once: those the journal holds first (a
    program killed after the journal took a result, and before it handled
    it, gets it again), then those this run collects. With ``journal`` or
    ``resume``, ``submit()`` reads the whole input before the job starts (its
    fingerprint must be known from the start), so workers can connect, at
    ``job.endpoint``, only once ``submit()`` has returned.

    ``curve_secret`` (a ``NAME.key`` file) and ``allow_keys`` (a folder of
    the workers' ``.pub`` files) turn on CURVE for both servers; the
    ventilator reaches the sink with the same key, which the sink admits as
    its ventilator.

    Leaving the ``with`` block with an exception, or Ctrl-C, cancels the job:
    workers are told (PROTOCOL.md §6.4). Raises :class:`JobFailed` when the
    job cannot run or ends incomplete.
    """

    def __init__(self, kind, bind="tcp://127.0.0.1:5557", *, sink_bind="tcp://127.0.0.1:*", min_workers=1,
                 batch=64, max_in_flight=262144, job_id=None, worker_timeout=3.0, max_attempts=3, journal=None,
                 resume=False, curve_secret=None, allow_keys=None):
        if _engine is None:
            raise ImportError(f"zpipe._engine is not built ({_engine_error}); build with cmake -DZPIPE_PYTHON=ON "
                              "and install with ZPIPE_ENGINE=path/to/_engine*.so pip install ./python")
        if not isinstance(kind, str) or not kind:
            raise ValueError("kind must be a non-empty str")
        if not 1 <= batch <= 65536:
            raise ValueError("batch must be 1 .. 65536")
        if bool(curve_secret) != bool(allow_keys):
            raise ValueError("curve_secret and allow_keys go together")
        self.kind, self.resume = kind, resume
        # A job that may be resumed needs its fingerprint in its first manifest,
        # so its input is read whole before the ventilator starts (§5.1).
        self._whole_input = bool(resume or journal)
        self._engine = _engine.Engine(kind=kind, bind=bind, sink_bind=sink_bind, min_workers=min_workers, batch=batch,
                                      max_in_flight=max_in_flight, job_id=job_id,
                                      worker_timeout_ms=int(worker_timeout * 1000), max_attempts=max_attempts,
                                      journal=journal or "", resume=resume, curve_secret=curve_secret or "",
                                      allow_keys=allow_keys or "")
        self.endpoint = None        # where workers connect (known once started)
        self.sink_endpoint = None   # where workers send results
        self.submitted = 0
        self._started = False
        self._status = None

    # ---- lifecycle ------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            self.cancel()
        self._finish(raise_on_failure=kind is None)
        return False

    def start(self):
        """Starts the sink and (unless resuming) the ventilator. Returns self."""
        if not self._started:
            self._started = True
            self.sink_endpoint = self._engine.start_sink()
            if not self._whole_input:
                self.endpoint = self._engine.start_ventilator()
        return self

    def submit(self, payloads):
        """Adds tasks, one per payload, streamed from any iterable; waits (GIL
        released) while the ventilator's queue is full. With ``resume``, the
        input then ends and the job starts. Returns the number of tasks added."""
        self.start()
        added = 0
        iterator = iter(payloads)
        while True:
            block = list(itertools.islice(iterator, 16384))
            if not block:
                break
            added += self._engine.push(block)
        self.submitted += added
        if self._whole_input:
            self.close()
        return added

    def close(self):
        """Ends the input: no more submit(). results() calls it."""
        self.start()
        if not self._engine.closed():
            self._engine.close()
            if self._whole_input:
                self.endpoint = self._engine.start_ventilator()

    @property
    def fingerprint(self):
        """The job's fingerprint (PROTOCOL.md §5.1) once the input has ended, else None."""
        return self._engine.fingerprint()

    def cancel(self):
        """Cancels the job: the ventilator tells the sink and the workers."""
        self._engine.cancel()

    def results(self, timeout=None):
        """Yields a :class:`Result` for each task as it completes (each task
        once, in completion order) until the job ends; ends the input first.
        Raises JobFailed if the job ends incomplete; TimeoutError when
        ``timeout`` seconds pass without a result."""
        for task_id, ok, value, worker in self._records(timeout):
            yield Result(task_id, True, value, None, worker) if ok else Result(task_id, False, None, value, worker)

    def _records(self, timeout):
        """(task_id, ok, value or error, worker) tuples, as results() says."""
        self.close()
        unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape", use_list=False)
        quiet = 0.0
        while True:
            records = self._engine.take(0.1)
            if records is None:
                break
            if not records:
                quiet += 0.1
                if timeout is not None and quiet >= timeout:
                    raise TimeoutError(f"no result for {timeout} s")
                if self._engine.wait(0.0)[2] not in (None, 0):
                    # The ventilator gave up (the sink refused the job, or it
                    # was cancelled): the sink would wait for ever.
                    self._engine.stop_sink()
                    break
                continue
            quiet = 0.0
            unpacker.feed(records)
            yield from unpacker
        self._finish(raise_on_failure=True)

    def _finish(self, raise_on_failure):
        if self._status is None:
            if raise_on_failure:
                self.close()              # a job left normally has all its input
            if self.endpoint is None:
                self._engine.stop_sink()  # no ventilator ever started: nothing will end the sink
            give_up = time.monotonic() + 120
            while True:
                status = self._engine.wait(0.1)
                if status[0] is not None and (status[2] is not None or self.endpoint is None):
                    break
                if status[2] not in (None, 0):
                    self._engine.stop_sink()  # the ventilator gave up; the sink would wait for ever
                if status[0] not in (None, 0, 1) and status[2] is None:
                    self._engine.cancel()     # the sink gave up; the ventilator would deal for ever
                if time.monotonic() > give_up:
                    self._engine.cancel()
                    self._engine.stop_sink()
                    status = self._engine.wait(10.0)
                    break
            self._status = tuple(status)
        sink_status, sink_error, vent_status, vent_error = self._status
        if not raise_on_failure:
            return
        problems = []
        if sink_status not in (0, 1):
            problems.append(f"the sink: {_STATUS.get(sink_status, sink_status)} {sink_error}".rstrip())
        if vent_status not in (0, None) or (vent_status is None and self.endpoint is not None):
            problems.append(f"the ventilator: {_STATUS.get(vent_status, vent_status)} {vent_error}".rstrip())
        if problems:
            raise JobFailed("; ".join(problems))


def map(kind, iterable, *, bind="tcp://127.0.0.1:*", min_workers=1, batch=64, timeout=None, on_ready=None,
        **job_options):
    """Runs one task of ``kind`` per item of ``iterable`` and returns the
    results in input order: each task's value, or a :class:`Result` for a
    failed task. ``on_ready(job)`` is called once workers can connect (at
    ``job.endpoint`` / ``job.sink_endpoint``), e.g. to start them. Other
    keywords go to :class:`Job`."""
    with Job(kind, bind, min_workers=min_workers, batch=batch, **job_options) as job:
        if on_ready is not None:
            on_ready(job)
        count = job.submit(iterable)
        values = [None] * count
        for task_id, ok, value, worker in job._records(timeout):
            values[task_id - 1] = value if ok else Result(task_id, False, None, value, worker)
        return values
