"""A compute process of the Python worker: runs task frames, returns results.

It never talks to the ventilator or the sink. The worker's network process
hands it raw ``tasks`` frames over a private DEALER/ROUTER pair on loopback
and forwards the ``results`` frames it makes; so a task that runs for an hour
holds up no keep-alive, and a process that dies loses only the frames it held
(the worker then says hello again and the ventilator deals them again).

Messages with the network process (multipart, private to this package):
  compute -> network  [b"H", pid]               ready
                      [b"D", epoch, stats, results frames...]
                                                one task frame finished: its results frames to
                                                forward to the sink; stats: its seconds (float64)
                                                and tasks (uint32)
  network -> compute  [b"T", epoch, tasks frame]
"""

import os
import signal
import struct
import sys
import time

from . import protocol as p
from ._pyzmq import require_zmq

RESULTS_PER_FRAME = 8192
RESULT_BYTES_PER_FRAME = 4 * 1024 * 1024


def error_text(e):
    """``TypeName: message``, cut to the 4096 bytes PROTOCOL.md §5.2 allows."""
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > p.MAX_ERROR_BYTES:
        text = raw[:p.MAX_ERROR_BYTES].decode("utf-8", "ignore")
    return text


def _bad_value(v):
    """Why a task's return value cannot be a result, or None when it can."""
    t = type(v)
    if t is int:
        return None if p.INT_MIN <= v <= p.INT_MAX else f"result {v} is outside the 64-bit integer range"
    if v is None:
        return None
    if t is str or t is bytes:
        size = len(v) if t is bytes else (len(v) if len(v) <= p.MAX_STR_BYTES // 4
                                          else len(v.encode("utf-8", "surrogateescape")))
        return None if size <= p.MAX_STR_BYTES else f"result of {size} bytes exceeds the limit of {p.MAX_STR_BYTES}"
    if t is bool or isinstance(v, int):
        return None if t is not bool else "TypeError: a bool is not a zpipe value (return an int or a str)"
    return f"TypeError: a result of type {t.__name__} is not a zpipe value (int, str, bytes or None)"


def run_frame(frame, tasks, worker):
    """Runs every task of one tasks frame. Returns (results frames, error,
    tasks run): error is the reason when the frame is bad (then no results)."""
    try:
        job, kind, ids, payloads, leases, attempts = p.decode_tasks(frame)
    except p.BadFrame as e:
        return [], str(e), 0
    function = tasks.get(kind)
    if function is None:
        reason = f"unknown task kind '{kind}'; this worker runs: {', '.join(sorted(tasks))}"
        oks, values = [False] * len(ids), [reason] * len(ids)
    else:
        oks, values = [], []
        ok_append, value_append = oks.append, values.append
        for payload in payloads:
            try:
                v = function(payload)
            except Exception as e:
                ok_append(False)
                value_append(error_text(e))
                continue
            if type(v) is int and p.INT_MIN <= v <= p.INT_MAX:
                ok_append(True)
                value_append(v)
                continue
            why = _bad_value(v)
            ok_append(why is None)
            if why is not None:
                v = why
            elif type(v) is bytes:
                v = v.decode("utf-8", "surrogateescape")  # sent as str (§4)
            value_append(v)
    frames = []
    start, size = 0, 0
    for i, v in enumerate(values):
        size += 12 + (len(v) if type(v) in (str, bytes) else 0)
        if i + 1 - start >= RESULTS_PER_FRAME or size >= RESULT_BYTES_PER_FRAME:
            frames.append(p.results(job, worker, ids[start:i + 1], oks[start:i + 1], values[start:i + 1], leases,
                                    attempts and attempts[start:i + 1]))
            start, size = i + 1, 0
    if start < len(ids):
        frames.append(p.results(job, worker, ids[start:], oks[start:], values[start:], leases,
                                attempts and attempts[start:]))
    return frames, None, len(ids)


def compute_main(endpoint, tasks, worker, parent):
    """Entry point of a compute process (multiprocessing, spawn): connects
    to the network process at ``endpoint``, runs the task frames it hands
    over with ``tasks`` ({kind: function}) until that process (pid
    ``parent``) is gone."""
    zmq = require_zmq()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the network process decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    context = zmq.Context(1)
    link = context.socket(zmq.DEALER)
    link.linger = 0
    link.connect(endpoint)
    link.send_multipart([b"H", str(os.getpid()).encode()])
    try:
        while True:
            if not link.poll(500):
                if os.getppid() != parent:  # the network process is gone: so are we
                    return
                continue
            parts = link.recv_multipart(copy=False)
            if len(parts) != 3 or parts[0].bytes != b"T":
                continue
            started = time.perf_counter()
            frames, bad, count = run_frame(parts[2].buffer, tasks, worker)
            if bad is not None:
                print(f"zpipe worker: dropped a bad tasks frame: {bad}", file=sys.stderr, flush=True)
            stats = struct.pack("<dI", time.perf_counter() - started, count)
            link.send_multipart([b"D", parts[1].bytes, stats, *frames], copy=False)
    finally:
        link.close()
        context.term()
