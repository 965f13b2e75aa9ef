"""The Python worker: runs @zpipe.task functions for a zpipe ventilator.

It speaks PROTOCOL.md itself. One network process (this one) holds the two
links and never computes; N compute processes (``_compute.py``) run the tasks,
so CPU-bound functions are not held back by the GIL and a task that runs for
an hour never delays a keep-alive.

Sockets of the network process:
  to_ventilator  DEALER, connects to --ventilator: hello/credit out; tasks, job_end, hello_again in
  to_sink        DEALER, connects to --sink: results out
  computes       ROUTER, binds tcp://127.0.0.1:* : task frames out to compute processes, results back
  two monitors   PAIR, inproc: the handshakes of to_ventilator and to_sink (PROTOCOL.md §1, §6.2.1)

Usage: ``python3 -m zpipe.worker mymodule --ventilator tcp://HOST:5557 --sink tcp://HOST:5558``
"""

import argparse
import collections
import importlib
import math
import multiprocessing
import os
import signal
import socket as _socket
import struct
import sys
import time

from . import protocol as p
from ._compute import compute_main
from ._pyzmq import MissingPyzmq, require_zmq
from ._registry import registered
from .curve import read_public_key, read_secret_key

# pyzmq, set by Worker() (_use_zmq): the worker's --help and a host that only
# registers tasks need none.
zmq = None
recv_monitor_message = None

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNTIME, EXIT_CANCELLED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

KEEP_ALIVE_S = 0.2          # PROTOCOL.md §6.2.5: never silent for more than 250 ms
BACKLOG_S = 0.05            # the window aims at this much work queued per process (as the C++ worker)
BACKLOG_TASKS_AT_MOST = 65536
FRAMES_PER_PROCESS_AT_MOST = 64  # task frames handed to one compute process at once
LOOP_S = 0.05


def _log(line):
    print(f"zpipe worker: {line}", file=sys.stderr, flush=True)


def _use_zmq():
    global zmq, recv_monitor_message
    zmq = require_zmq()
    from zmq.utils.monitor import recv_monitor_message
    return zmq


class _RateLimited:
    """The first 10 lines in full, then one a second with the count not shown (§8)."""

    def __init__(self, what):
        self.what, self.count, self.hidden, self.last = what, 0, 0, 0.0

    def reject(self, why):
        self.count += 1
        now = time.monotonic()
        if self.count <= 10 or now - self.last >= 1.0:
            extra = f" ({self.hidden} more not shown)" if self.hidden else ""
            _log(f"dropped a bad {self.what}: {why}{extra}")
            self.last, self.hidden = now, 0
        else:
            self.hidden += 1


class _Compute:
    """One compute process as the network process sees it."""

    def __init__(self, slot, process):
        self.slot, self.process = slot, process
        self.identity = None     # its DEALER's routing id, once it said ready
        self.held = 0            # task frames handed to it and not finished


class Worker:
    """The network process's state and loop. ``run()`` returns an exit status."""

    def __init__(self, *, ventilator, sink, tasks, processes=None, name=None, once=False, window=None,
                 curve_secret=None, ventilator_key=None, sink_key=None):
        if not tasks:
            raise ValueError("no task kinds: decorate functions with @zpipe.task first")
        _use_zmq()  # raises MissingPyzmq, which says what to install
        self.ventilator, self.sink, self.tasks = ventilator, sink, dict(tasks)
        self.processes = max(1, int(processes or os.cpu_count() or 1))
        self.name = name or f"{_socket.gethostname()}:{os.getpid()}"
        self.once = once
        # The window starts at 2 frames per process (PROTOCOL.md 6.2.1) and,
        # unless fixed by `window`, follows what keeps the processes busy for
        # BACKLOG_S: grown by returning more credits than owed, shrunk by
        # returning fewer (6.2.4).
        self.initial_window = int(window) if window else 2 * self.processes
        if not 1 <= self.initial_window <= p.MAX_WINDOW_FRAMES:
            raise ValueError(f"window must be 1 .. {p.MAX_WINDOW_FRAMES} (0 would never get a task)")
        self.adaptive = not window
        self.window = self.initial_window
        self.seconds_per_frame = 0.0  # running average over finished frames
        self.largest_frame = 1
        self.curve = None
        if curve_secret or ventilator_key or sink_key:
            if not (curve_secret and ventilator_key and sink_key):
                raise ValueError("CURVE needs curve_secret, ventilator_key and sink_key together")
            public, secret = read_secret_key(curve_secret)
            self.curve = (public, secret, read_public_key(ventilator_key), read_public_key(sink_key))

        self.epoch = 0               # a new hello starts a new epoch; older frames return no credit
        self.introduced = False      # the ventilator has our hello (as far as we know)
        self.hello_owed = False
        self.owed = 0                # credits earned and not yet returned
        self.last_sent = 0.0
        self.queue = collections.deque()    # (epoch, frame) not yet handed to a compute process
        self.unsent = collections.deque()   # results frames / credit markers waiting for the sink's queue
        self.sink_handshakes = 0
        self.jobs_ended = 0
        self.last_ended = None      # the job of the last job_end
        self.exit_status = None
        self.rejections = _RateLimited("message from the ventilator")
        self.stop_signals = 0
        self.failed_starts = 0      # compute processes in a row that died before they were ready

    # ---- sockets --------------------------------------------------------

    def _dealer(self, endpoint, server_key):
        s = self.context.socket(zmq.DEALER)
        s.linger = 2000
        s.sndhwm = s.rcvhwm = 2 * p.MAX_WINDOW_FRAMES
        s.maxmsgsize = p.MAX_FRAME_BYTES
        # Heartbeats of its own, but no TTL asked of the server, which would
        # hold a timer per worker (the C++ worker's client_settings()).
        s.heartbeat_ivl, s.heartbeat_timeout, s.heartbeat_ttl = 1000, 5000, 0
        if self.curve:
            s.curve_publickey, s.curve_secretkey = self.curve[0], self.curve[1]
            s.curve_serverkey = server_key
        events = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        monitor = s.get_monitor_socket(events)
        s.connect(endpoint)
        return s, monitor

    def _start_compute(self, slot):
        process = self.mp.Process(target=compute_main, name=f"zpipe-compute-{slot}", daemon=True,
                                  args=(self.compute_endpoint, self.tasks, self.name, os.getpid()))
        process.start()
        return _Compute(slot, process)

    # ---- protocol -------------------------------------------------------

    def _send_ventilator(self, frame):
        try:
            self.to_ventilator.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.last_sent = time.monotonic()
        return True

    def _introduce(self):
        """§6.2.1: drop what is queued, start a new epoch, say hello."""
        self.queue.clear()
        self.epoch += 1
        self.owed = 0
        self.window = self.initial_window
        self.introduced = self._send_ventilator(p.hello(self.name, self.window, sorted(self.tasks)))
        self.hello_owed = not self.introduced

    def _ventilator_frame(self, frame):
        if p.peek_type(frame) == p.TASKS:
            self.queue.append((self.epoch, frame))
            return
        try:
            message = p.decode(frame)
        except p.BadFrame as e:
            self.rejections.reject(str(e))
            return
        kind = message[1]
        if kind == p.HELLO_AGAIN:
            _log("the ventilator does not know this worker (it restarted, or took us for gone); saying hello again")
            self._introduce()
        elif kind == p.JOB_END:
            # §6.4.6: a job_end ends the wait for this ventilator's job, seen or not.
            if message[2] == self.last_ended and not self.introduced:
                return  # the answer to a credit that crossed the first job_end: nothing new
            self.last_ended = message[2]
            self.jobs_ended += 1
            self.epoch += 1
            dropped = len(self.queue)
            self.queue.clear()
            what = f"job {message[2]} " + ("is complete" if message[3] else "was cancelled")
            if dropped:
                what += f"; dropped {dropped} task frame(s) not started"
            if self.once:
                _log(what)
                self.exit_status = EXIT_OK if message[3] else EXIT_CANCELLED
                return
            _log(what + "; waiting for the next job")
            self.introduced = self.hello_owed = False  # silent until the next ventilator's handshake
        elif kind == p.HELLO and message[2] == self.name:
            _log(f"nothing listens at {self.ventilator}; connecting again")
            self.to_ventilator.disconnect(self.ventilator)
            self.to_ventilator.connect(self.ventilator)
        else:
            self.rejections.reject(f"unexpected {p.NAMES[kind]} message")

    def _handshakes(self, monitor, what):
        """Reads a link's monitor. Returns the number of handshakes; sets
        exit_status on a refused one (a refusal does not mend by waiting)."""
        count = 0
        while monitor.poll(0):
            event = recv_monitor_message(monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                count += 1
            elif self.exit_status is None:
                if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    why = f"{what} refused authentication (ZAP status {event['value']}): is this worker's public key in its --allow-workers?"
                elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                    why = f"handshake with the {what} failed (ZMTP protocol error {event['value']}): do both sides use CURVE keys, and the right ones?"
                else:
                    why = f"handshake with the {what} failed without a reason: most likely the wrong public key for it"
                _log(f"cannot work: {why}")
                self.exit_status = EXIT_RUNTIME
        return count

    def _dispatch(self):
        """Hands queued task frames to compute processes with room for them."""
        while self.queue:
            most = min(FRAMES_PER_PROCESS_AT_MOST, max(2, -(-self.window // self.processes)))
            ready = [c for c in self.computes if c.identity is not None and c.held < most]
            if not ready:
                return
            target = min(ready, key=lambda c: c.held)
            epoch, frame = self.queue.popleft()
            target.held += 1
            self.computes_socket.send_multipart([target.identity, b"T", epoch.to_bytes(8, "little"), frame], copy=False)

    def _from_computes(self):
        while True:
            try:
                identity, tag, *rest = self.computes_socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            identity, tag = identity.bytes, tag.bytes
            compute = next((c for c in self.computes if c.identity == identity), None)
            if tag == b"H":
                pid = int(rest[0].bytes)
                compute = next((c for c in self.computes if c.process.pid == pid), None)
                if compute is not None:
                    compute.identity = identity
            elif compute is None:
                continue  # a process already replaced
            elif tag == b"D":
                compute.held -= 1
                self.unsent.extend(rest[2:])  # results first: the credit follows them (6.2.4)
                if len(rest) > 1 and len(rest[1].bytes) == 12:
                    seconds, tasks = struct.unpack("<dI", rest[1].bytes)
                    self.largest_frame = max(self.largest_frame, tasks)
                    self.seconds_per_frame = seconds if not self.seconds_per_frame else (
                        0.75 * self.seconds_per_frame + 0.25 * seconds)
                self.unsent.append(int.from_bytes(rest[0].bytes, "little"))

    def _forward_results(self):
        """Results to the sink; a finished frame's credit once they are handed over (§6.2.4)."""
        while self.unsent:
            item = self.unsent[0]
            if isinstance(item, int):
                if item == self.epoch:
                    self.owed += 1
            else:
                try:
                    self.to_sink.send(item, zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    return
            self.unsent.popleft()

    def _check_computes(self):
        """A compute process that died is started again; the frames it held
        are lost, so the ventilator must deal them again: say hello again."""
        lost = False
        for i, c in enumerate(self.computes):
            if c.process.exitcode is None:
                continue
            if c.identity is None:
                # It died before it was ready: its module does not import
                # in a new process, or serve() is called without
                # `if __name__ == "__main__":`. Starting it again will not mend that.
                self.failed_starts += 1
                if self.failed_starts >= 3:
                    _log(f"cannot work: compute processes exit at start (status {c.process.exitcode}); does the "
                         "task module import in a new process, and is serve() under if __name__ == \"__main__\"?")
                    self.exit_status = EXIT_RUNTIME
                    return
            else:
                self.failed_starts = 0
            _log(f"compute process {c.process.pid} ended with status {c.process.exitcode}; starting another"
                 + (f" and saying hello again, so its {c.held} task frame(s) are dealt again" if c.held else ""))
            lost = lost or c.held > 0
            replacement = self._start_compute(c.slot)
            self.computes[i] = replacement
        if lost and self.introduced:
            self._introduce()

    def _tick(self, now):
        if self.exit_status is not None:
            return
        if self.hello_owed:
            self._introduce()
            return
        if not self.introduced:
            return
        idle = not self.queue and all(c.held == 0 for c in self.computes)
        wanted = min(self._wanted_window(), 2 * self.window)    # grow at most twice per return
        give = max(0, self.owed + wanted - self.window)
        if (give or self.owed) and (idle or give >= max(1, self.window // 4)):
            if give == 0 or self._send_ventilator(p.credit(give)):
                self.window += give - self.owed  # give 0: the window shrinks by what was owed
                self.owed = 0
                return
        if now - self.last_sent >= KEEP_ALIVE_S:
            self._send_ventilator(p.credit(0))

    def _wanted_window(self):
        """Task frames that keep every process busy for BACKLOG_S (never
        below the initial window, nor above 65536 tasks' worth)."""
        if not self.adaptive or self.seconds_per_frame <= 0:
            return self.initial_window
        floor = self.initial_window
        ceiling = max(floor, min(p.MAX_WINDOW_FRAMES, BACKLOG_TASKS_AT_MOST // self.largest_frame))
        return int(min(max(math.ceil(self.processes * BACKLOG_S / self.seconds_per_frame), floor), ceiling))

    # ---- the loop -------------------------------------------------------

    def run(self):
        """Serves until the job ends (once) or a stop signal; returns an exit status."""
        def on_signal(signum, frame):
            self.stop_signals += 1
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.context = zmq.Context(1)
        self.mp = multiprocessing.get_context("spawn")
        try:
            return self._run()
        finally:
            for c in getattr(self, "computes", []):
                if c.process.is_alive():
                    c.process.terminate()
            for c in getattr(self, "computes", []):
                c.process.join(2)
            self.context.destroy(linger=2000)
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _run(self):
        self.computes_socket = self.context.socket(zmq.ROUTER)
        self.computes_socket.linger = 0
        self.computes_socket.bind("tcp://127.0.0.1:*")
        self.compute_endpoint = self.computes_socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.computes = []
        for slot in range(self.processes):
            c = self._start_compute(slot)
            self.computes.append(c)
        self.to_ventilator, ventilator_monitor = self._dealer(self.ventilator, self.curve and self.curve[2])
        self.to_sink, sink_monitor = self._dealer(self.sink, self.curve and self.curve[3])
        _log(f"{self.name} ready: {self.processes} process(es), kinds: {', '.join(sorted(self.tasks))}, "
             f"waiting for work from {self.ventilator}")
        poller = zmq.Poller()
        for s in (self.to_ventilator, self.computes_socket, ventilator_monitor, sink_monitor):
            poller.register(s, zmq.POLLIN)
        while self.exit_status is None:
            if self.stop_signals:
                self.exit_status = EXIT_INTERRUPTED
                break
            if self._handshakes(ventilator_monitor, "ventilator"):
                self._introduce()                      # §6.2.1, every handshake
            if self._handshakes(sink_monitor, "sink"):
                self.sink_handshakes += 1
                if self.sink_handshakes > 1 and self.introduced:
                    _log("the link to the sink is back; results sent before it broke may be lost, so saying hello again")
                    self._introduce()
            if self.exit_status is not None:
                break
            while True:
                try:
                    frame = self.to_ventilator.recv(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                if frame.more:
                    self.rejections.reject("expected 1 frame, got more")
                    while self.to_ventilator.getsockopt(zmq.RCVMORE):
                        self.to_ventilator.recv()
                    continue
                self._ventilator_frame(frame.bytes)
                if self.exit_status is not None:
                    break
            if self.exit_status is not None:
                break
            self._from_computes()
            self._forward_results()
            self._check_computes()
            self._dispatch()
            self._tick(time.monotonic())
            if self.unsent:
                poller.register(self.to_sink, zmq.POLLOUT)
            elif self.to_sink in dict(poller.sockets):
                poller.unregister(self.to_sink)
            poller.poll(int(LOOP_S * 1000) if self.introduced else 5)
        status = self.exit_status
        _log({EXIT_INTERRUPTED: "stopped by signal", EXIT_RUNTIME: "gave up"}.get(status, "done")
             + f"; served {self.jobs_ended} job(s), frames rejected: {self.rejections.count}")
        return status


def serve(ventilator="tcp://127.0.0.1:5557", sink="tcp://127.0.0.1:5558", processes=None, *, once=False,
          name=None, window=None, curve_secret=None, ventilator_key=None, sink_key=None, tasks=None):
    """Serves the registered @zpipe.task functions to a zpipe ventilator.

    ``processes`` compute processes run the tasks (default: one per CPU);
    results go to ``sink``. With ``once`` it returns when the first job ends,
    otherwise it serves job after job until SIGINT/SIGTERM. CURVE is on when
    ``curve_secret`` (this worker's ``NAME.key``), ``ventilator_key`` and
    ``sink_key`` (the servers' ``.pub`` files) are given, as zpipe-worker takes
    them. ``tasks`` ({kind: function}) replaces the registry.

    Compute processes are started with multiprocessing's "spawn": a script
    that calls serve() must do so under ``if __name__ == "__main__":``.

    Returns the exit status the zpipe-worker program would have: 0 after a
    complete job (once), 4 after a cancelled one, 3 when a server refused our
    keys, 130 when stopped by a signal.
    """
    worker = Worker(ventilator=ventilator, sink=sink, tasks=tasks if tasks is not None else registered(),
                    processes=processes, name=name, once=once, window=window, curve_secret=curve_secret,
                    ventilator_key=ventilator_key, sink_key=sink_key)
    return worker.run()


def parse_args(argv):
    """Parses the command line of ``python3 -m zpipe.worker`` (without the
    program name). Returns an argparse.Namespace; on bad options or --help,
    prints and raises SystemExit as argparse does."""
    parser = argparse.ArgumentParser(
        prog="python3 -m zpipe.worker",
        description="Runs the @zpipe.task functions of MODULE(s) for a zpipe ventilator; results go to the sink.")
    parser.add_argument("modules", nargs="+", metavar="MODULE",
                        help="module(s) to import, by name (mypackage.tasks) or as a path (tasks.py)")
    parser.add_argument("--ventilator", default="tcp://127.0.0.1:5557", help="where the ventilator listens")
    parser.add_argument("--sink", default="tcp://127.0.0.1:5558", help="where the sink listens")
    parser.add_argument("--processes", "-p", type=int, default=None, help="compute processes (default: one per CPU)")
    parser.add_argument("--name", default=None, help="the worker's name in results (default host:pid)")
    parser.add_argument("--once", action="store_true", help="exit when the job ends (default: serve job after job)")
    parser.add_argument("--window", type=int, default=None,
                        help="task frames held at once (default: 2 per process; PROTOCOL.md 6.2.1)")
    parser.add_argument("--curve-secret", metavar="FILE", help="this worker's CURVE secret key file (NAME.key)")
    parser.add_argument("--ventilator-key", metavar="FILE", help="the ventilator's public key file")
    parser.add_argument("--sink-key", metavar="FILE", help="the sink's public key file")
    return parser.parse_args(argv)


def import_tasks(modules):
    """Imports each module by name, or a .py file by path. Returns the registry."""
    for module in modules:
        if module.endswith(".py") or os.sep in module:
            directory, filename = os.path.split(os.path.abspath(module))
            sys.path.insert(0, directory)
            module = os.path.splitext(filename)[0]
        elif "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        importlib.import_module(module)
    return registered()


def main(argv=None):
    """``python3 -m zpipe.worker``: serves MODULE(s) as ``argv`` (default
    sys.argv[1:]) asks. Returns zpipe-worker's exit statuses: 2 for bad
    options or a module that does not import, 3 when pyzmq is missing or a
    server refused our keys (see serve())."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        _use_zmq()
    except MissingPyzmq as e:
        _log(str(e))
        return EXIT_RUNTIME
    try:
        tasks = import_tasks(args.modules)
        if not tasks:
            raise ValueError(f"{', '.join(args.modules)} registered no @zpipe.task function")
        return serve(args.ventilator, args.sink, args.processes, once=args.once, name=args.name,
                     window=args.window, curve_secret=args.curve_secret, ventilator_key=args.ventilator_key,
                     sink_key=args.sink_key, tasks=tasks)
    except (ValueError, ImportError, OSError) as e:
        _log(str(e))
        return EXIT_USAGE


