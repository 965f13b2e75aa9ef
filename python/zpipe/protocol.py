"""The zpipe wire protocol, version 2, written from ``shared/PROTOCOL.md``.

Every frame is one msgpack array ``[version, type, fields...]``. This module
encodes the messages a worker sends, decodes every message of §3 (exec
records of §4.1 included, so a Python tool can read a sink's input), and
checks their shape as §2–§8 ask: a frame that breaks them raises
:class:`BadFrame`, which the caller counts, logs (rate-limited) and drops.
"""

try:
    import msgpack
except ImportError as e:
    raise ImportError(f"zpipe needs msgpack, which this Python lacks ({e}): apt install python3-msgpack "
                      "(Debian), or pip install msgpack") from None

VERSION = 2

(HELLO, CREDIT, TASKS, RESULTS, JOB, JOB_ACCEPTED, JOB_REFUSED, ACK, JOB_END, HELLO_AGAIN, STATUS_REQUEST,
 STATUS, RETRY, HALT) = range(1, 15)
NAMES = {HELLO: "hello", CREDIT: "credit", TASKS: "tasks", RESULTS: "results", JOB: "job",
         JOB_ACCEPTED: "job_accepted", JOB_REFUSED: "job_refused", ACK: "ack", JOB_END: "job_end",
         HELLO_AGAIN: "hello_again", STATUS_REQUEST: "status_request", STATUS: "status", RETRY: "retry",
         HALT: "halt"}
FIELDS = {HELLO: 2, CREDIT: 1, TASKS: 5, RESULTS: 6, JOB: 6, JOB_ACCEPTED: 4, JOB_REFUSED: 2, ACK: 2,
          JOB_END: 2, HELLO_AGAIN: 0, STATUS_REQUEST: 0, STATUS: 14, RETRY: 3, HALT: 3}
# §6.6: at most this many worker rows in a status.
MAX_STATUS_ROWS = 4096

# §7, Limits.
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_ARRAY = 65536
MAX_STR_BYTES = 1024 * 1024
MAX_WINDOW_FRAMES = 65536
MAX_ERROR_BYTES = 4096
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


class BadFrame(ValueError):
    """A frame that breaks PROTOCOL.md (§8): count it, log it, drop it."""


def _unpack(frame):
    if len(frame) > MAX_FRAME_BYTES:
        raise BadFrame(f"frame of {len(frame)} bytes is over the 16 MiB limit")
    try:
        # Strings are bytes on the wire, UTF-8 not checked (§2): undecodable
        # bytes survive as surrogates and re-encode to the same bytes.
        return msgpack.unpackb(frame, raw=False, unicode_errors="surrogateescape", use_list=True,
                               max_str_len=MAX_STR_BYTES, max_bin_len=MAX_STR_BYTES,
                               max_array_len=MAX_ARRAY, max_map_len=0, max_ext_len=0, strict_map_key=True)
    except BadFrame:
        raise
    except Exception as e:  # msgpack raises several types for malformed input
        raise BadFrame(f"not one msgpack value within the limits: {e}") from None


def _depth_ok(value, depth):
    if isinstance(value, (list, tuple)):
        if depth >= 3:
            return False
        return all(_depth_ok(v, depth + 1) for v in value)
    return not isinstance(value, dict)


def _check_value(v, what):
    t = type(v)
    if t is int:
        if not INT_MIN <= v <= INT_MAX:
            raise BadFrame(f"{what} {v} is outside the integer range")
    elif t is str or t is bytes or v is None:
        pass
    elif t is list:
        if not v or type(v[0]) is not str or v[0] != "exec":
            raise BadFrame(f"{what} is an array but not an exec record")
        _check_exec(v)
    else:
        raise BadFrame(f"{what} is a {t.__name__}, not nil, an integer, a string or an exec record")


EXEC_FIELDS = 11  # §4.1; a twelfth, `command`, is appended and may be absent or nil


def _int(v, what, *, absent=None):
    if v is None and absent is not None:
        return
    if type(v) is not int or not INT_MIN <= v <= INT_MAX:
        raise BadFrame(f"{what} must be an integer" + (" or nil" if absent is not None else ""))
    if v == absent:
        raise BadFrame(f"{what} is {absent} (write nil)")


def _bytes(v, what):
    if type(v) is bytes:
        return v
    if type(v) is str:  # decoders accept str for bin (§4.1)
        return v.encode("utf-8", "surrogateescape")
    raise BadFrame(f"{what} must be bytes")


def _check_exec(record):
    """Checks an exec record (§4.1) in place: stdout and stderr become bytes,
    the str fields str; elements after the twelfth are left as they are."""
    if len(record) < EXEC_FIELDS:
        raise BadFrame(f"an exec record needs {EXEC_FIELDS} elements, got {len(record)}")
    _int(record[1], "exec.exit", absent=-1)
    _int(record[2], "exec.signal", absent=0)
    record[3] = _bytes(record[3], "exec.stdout")
    record[4] = _bytes(record[4], "exec.stderr")
    _bool(record[5], "exec.stdout_truncated")
    _bool(record[6], "exec.stderr_truncated")
    _int(record[7], "exec.started")
    _int(record[8], "exec.duration")
    record[9] = _string(record[9], "exec.host")
    record[10] = _string(record[10], "exec.error")
    if len(record) > EXEC_FIELDS and record[11] is not None:
        record[11] = _string(record[11], "exec.command")


def _u64(v, what):
    if type(v) is not int or not 0 <= v <= U64_MAX:
        raise BadFrame(f"{what} must be an unsigned integer")
    return v


def _attempts(v, count, what):
    """Checks an attempts field (§3, §6.7): ``count`` u32s, each at least 1."""
    if type(v) is not list:
        raise BadFrame(f"{what} must be an array")
    if len(v) != count:
        raise BadFrame(f"{what} has {len(v)} entries, expected {count}")
    for a in v:
        if type(a) is not int or not 1 <= a <= U32_MAX:
            raise BadFrame(f"{what}[] must be an attempt, 1 to 2^32-1")


def _string(v, what):
    if type(v) is str:
        return v
    if type(v) is bytes:
        return v.decode("utf-8", "surrogateescape")
    raise BadFrame(f"{what} must be a string")


def _bool(v, what):
    if v is True or v is False:
        return v
    raise BadFrame(f"{what} must be true or false")


def decode(frame):
    """Decodes one frame into a list ``[version, type, fields...]`` whose
    fields have been checked against §3 and §4. Raises BadFrame."""
    message = _unpack(frame)
    if type(message) is not list:
        raise BadFrame("a frame must be an array")
    if len(message) < 2:
        raise BadFrame("a frame needs at least [version, type]")
    if message[0] != VERSION or type(message[0]) is not int:
        raise BadFrame(f"protocol version {message[0]!r} is not spoken here (this worker speaks {VERSION})")
    kind = message[1]
    if type(kind) is not int or kind not in FIELDS:
        raise BadFrame(f"unknown message type {kind!r}")
    if len(message) - 2 < FIELDS[kind]:
        raise BadFrame(f"{NAMES[kind]} needs {FIELDS[kind]} fields, got {len(message) - 2}")
    if not all(_depth_ok(v, 1) for v in message[2:]):
        raise BadFrame("nested deeper than 3")
    f = message
    if kind == HELLO:
        f[2] = _string(f[2], "hello.worker")
        _u64(f[3], "hello.window")
        if len(f) > 4:  # kinds, appended to v2 (absent: every kind)
            if type(f[4]) is not list:
                raise BadFrame("hello.kinds must be an array")
            f[4] = [_string(k, "hello.kinds[]") for k in f[4]]
        if len(f) > 5:  # bundle, appended after kinds (absent: one task frame per message)
            if type(f[5]) is not int or not 1 <= f[5] <= U32_MAX:
                raise BadFrame("hello.bundle must be 1 to 2^32-1")
    elif kind == CREDIT:
        _u64(f[2], "credit.batches")
    elif kind == TASKS:
        check_tasks(f)
    elif kind == RESULTS:
        _u64(f[2], "results.job")
        f[3] = _string(f[3], "results.worker")
        ids, oks, values = f[4], f[5], f[6]
        if not (type(ids) is list and type(oks) is list and type(values) is list):
            raise BadFrame("results.ids, oks and values must be arrays")
        if not len(ids) == len(oks) == len(values):
            raise BadFrame("results arrays differ in length")
        for i, ok, v in zip(ids, oks, values):
            _u64(i, "results.ids[]")
            _bool(ok, "results.oks[]")
            _check_value(v, "results.values[]")
            if not ok and type(v) not in (str, bytes, list):
                raise BadFrame("a failed result's value must be its error message or an exec record")
        check_leases(f[7], "results.leases")
        if len(f) > 8:  # attempts, appended to v2 (absent: every result of a first attempt)
            _attempts(f[8], len(ids), "results.attempts")
    elif kind == JOB_END:
        _u64(f[2], "job_end.job")
        _bool(f[3], "job_end.complete")
    elif kind == ACK:
        _u64(f[2], "ack.job")
        if type(f[3]) is not list:
            raise BadFrame("ack.ranges must be an array")
        for r in f[3]:
            if type(r) is not list or len(r) != 2:
                raise BadFrame("ack.ranges[] must be [first, last]")
            if _u64(r[1], "last") < _u64(r[0], "first"):
                raise BadFrame("ack.ranges[] has last < first")
    elif kind == JOB:
        _u64(f[2], "job.job")
        f[3] = _string(f[3], "job.kind")
        if f[4] is not None:
            _u64(f[4], "job.total")
        f[5] = _string(f[5], "job.fingerprint")
        _bool(f[6], "job.resume")
        _u64(f[7], "job.acknowledged")
        if len(f) > 8:  # retries, appended to v2 (absent: 0)
            if type(f[8]) is not int or not 0 <= f[8] <= U32_MAX:
                raise BadFrame("job.retries must be an unsigned 32-bit integer")
        if len(f) > 9:  # halt, appended (§6.8; absent or nil: never)
            _check_halt(f[9])
        if len(f) > 10:  # resume_token, appended (absent: 0)
            _u64(f[10], "job.resume_token")
        if len(f) > 11:  # resume_failed, appended (absent: false)
            _bool(f[11], "job.resume_failed")
        if len(f) > 12:  # window, appended (absent: not said)
            _u64(f[12], "job.window")
    elif kind == JOB_ACCEPTED:
        _u64(f[2], "job_accepted.job")
        if f[3] is not None:
            _u64(f[3], "job_accepted.total")
        _u64(f[4], "job_accepted.completed")
        if type(f[5]) not in (str, bytes):
            raise BadFrame("job_accepted.lease_secret must be bytes")
        if len(f) > 6:  # reorder_buffer, appended to v2 (absent: no limit, §6.8)
            _u64(f[6], "job_accepted.reorder_buffer")
    elif kind == JOB_REFUSED:
        _u64(f[2], "job_refused.job")
        f[3] = _string(f[3], "job_refused.reason")
    elif kind == STATUS:
        _check_status(f)
    elif kind == HALT:
        _u64(f[2], "halt.job")
        _bool(f[3], "halt.now")
        f[4] = _string(f[4], "halt.reason")
    elif kind == RETRY:
        _u64(f[2], "retry.job")
        if type(f[3]) is not list:
            raise BadFrame("retry.ids must be an array")
        for i in f[3]:
            _u64(i, "retry.ids[]")
        _attempts(f[4], len(f[3]), "retry.attempts")
    return message


def _check_halt(halt):
    """Checks job.halt (§3, §6.8): nil, or [when, on, count, basis_points]. Raises BadFrame."""
    if halt is None:
        return
    if type(halt) is not list or len(halt) < 4:
        raise BadFrame("job.halt must be nil or [when, on, count, basis_points]")
    when, on, count, share = halt[:4]
    for value, name in ((when, "when"), (on, "on"), (share, "basis_points")):
        if type(value) is not int or not 0 <= value <= U32_MAX:
            raise BadFrame(f"job.halt.{name} must be an unsigned 32-bit integer")
    _u64(count, "job.halt.count")
    if when not in (1, 2):
        raise BadFrame("job.halt.when must be 1 (soon) or 2 (now)")
    if on not in (1, 2):
        raise BadFrame("job.halt.on must be 1 (fail) or 2 (success)")
    if (count == 0) == (share == 0) or share > 10000:
        raise BadFrame("job.halt needs exactly one of count and basis_points (1 ... 10000) above 0")


def _check_status(f):
    """Checks a decoded status message in place (§3, §6.6). Raises BadFrame."""
    _u64(f[2], "status.job")
    f[3] = _string(f[3], "status.kind")
    f[4] = _string(f[4], "status.phase")
    if f[5] is not None:
        _u64(f[5], "status.total")
    for i, name in enumerate(("read", "acknowledged", "failed", "in_flight", "dealt_again", "workers_lost",
                              "elapsed_ms", "rate", "workers")):
        _u64(f[6 + i], "status." + name)
    rows = f[15]
    if type(rows) is not list:
        raise BadFrame("status.rows must be an array")
    if len(rows) > MAX_STATUS_ROWS:
        raise BadFrame(f"status.rows has more than {MAX_STATUS_ROWS} entries")
    for row in rows:
        if type(row) is not list:
            raise BadFrame("status.rows[] must be an array")
        if len(row) < 5:
            raise BadFrame("status.rows[] must be [name, host, held, done, idle_ms]")
        row[0] = _string(row[0], "status.rows[].name")
        row[1] = _string(row[1], "status.rows[].host")
        for value, name in zip(row[2:5], ("held", "done", "idle_ms")):
            _u64(value, "status.rows[]." + name)
    if len(f) > 16:  # retried, appended to v2 (absent: 0)
        _u64(f[16], "status.retried")


def check_leases(leases, what):
    """Checks a leases field (§6.5): [[first, last, token], ...], token 16 bytes."""
    if type(leases) is not list:
        raise BadFrame(f"{what} must be an array")
    for lease in leases:
        if type(lease) is not list or len(lease) != 3:
            raise BadFrame(f"{what}[] must be [first, last, token]")
        if _u64(lease[1], what) < _u64(lease[0], what):
            raise BadFrame(f"{what}[] has last < first")
        if type(lease[2]) is str:
            lease[2] = lease[2].encode("utf-8", "surrogateescape")
        if type(lease[2]) is not bytes or len(lease[2]) != 16:
            raise BadFrame(f"{what}[] token must have 16 bytes")


def check_tasks(f):
    """Checks a decoded tasks message in place (§3, §4). Raises BadFrame."""
    _u64(f[2], "tasks.job")
    f[3] = _string(f[3], "tasks.kind")
    ids, payloads = f[4], f[5]
    if type(ids) is not list or type(payloads) is not list:
        raise BadFrame("tasks.ids and tasks.payloads must be arrays")
    if len(ids) != len(payloads):
        raise BadFrame("tasks.ids and tasks.payloads differ in length")
    for i in ids:
        if type(i) is not int or i < 0:
            raise BadFrame("tasks.ids[] must be unsigned integers")
    for i, p in enumerate(payloads):
        if type(p) is int:
            if not INT_MIN <= p <= INT_MAX:
                raise BadFrame(f"payload {p} is outside the integer range")
        elif type(p) is bytes:  # bin: a string like any other (§4)
            payloads[i] = p.decode("utf-8", "surrogateescape")
        elif p is not None and type(p) is not str:
            raise BadFrame(f"a payload is a {type(p).__name__}, not nil, an integer or a string")
    check_leases(f[6], "tasks.leases")
    if len(f) > 7:  # attempts, appended to v2 (absent: every task's first attempt)
        _attempts(f[7], len(ids), "tasks.attempts")
    if len(f) > 8:  # frames, appended after attempts (§6.2.10; absent: 1)
        if type(f[8]) is not int or not 1 <= f[8] <= max(1, len(ids)):
            raise BadFrame("tasks.frames must be 1 to one frame per task")


def decode_tasks(frame):
    """Decodes a frame that must be ``tasks``: returns (job, kind, ids,
    payloads, leases, attempts); attempts is None when the frame has none
    (every task at its first attempt). Raises BadFrame."""
    f = _unpack(frame)
    if type(f) is not list or len(f) < 7 or f[0] != VERSION or f[1] != TASKS:
        raise BadFrame("expected a tasks message")
    if not all(_depth_ok(v, 1) for v in f[7:]):
        raise BadFrame("nested deeper than 3")
    check_tasks(f)
    return f[2], f[3], f[4], f[5], f[6], (f[7] if len(f) > 7 else None)


def peek_type(frame):
    """The message type read from a frame's first bytes without decoding it
    (§2, the headers a receiver may insist on), or None."""
    if len(frame) < 3:
        return None
    head = frame[0]
    if 0x92 <= head <= 0x9F:
        at = 1
    elif head == 0xDC:
        at = 3
    else:
        return None
    if len(frame) < at + 2 or frame[at] != VERSION or not HELLO <= frame[at + 1] <= HALT:
        return None
    return frame[at + 1]


# use_bin_type=True is what makes msgpack write str8 (d9) for strings of 32 to
# 255 bytes; with False it writes raw16 (da), which is not canonical (§2).
# bytes would then become bin, so callers pass strings only.
_packer = msgpack.Packer(use_bin_type=True, autoreset=True, unicode_errors="surrogateescape")


def encode(message):
    """Encodes ``[version, type, fields...]`` canonically (§2). Strings must
    be ``str`` (bytes would be written as bin)."""
    return _packer.pack(message)


def hello(worker, window, kinds=None):
    """hello{worker, window}; ``kinds`` is the appended field of the kinds
    negotiation (absent: every kind)."""
    message = [VERSION, HELLO, worker, window]
    if kinds is not None:
        message.append(list(kinds))
    return encode(message)


def credit(batches):
    """credit{batches} (§6.2): ``batches`` task frames handed back; 0 is a
    keep-alive. Returns the encoded frame."""
    return encode([VERSION, CREDIT, batches])


def results(job, worker, ids, oks, values, leases, attempts=None):
    """results, with the leases of the tasks frame they answer (§6.5): the
    sink takes a result only under a lease signed for this worker's key.
    ``attempts`` echoes the tasks frame's (§6.7); it is written only when
    one is past the first, as the sink tells final failures by it."""
    message = [VERSION, RESULTS, job, worker, ids, oks, values, leases]
    if attempts is not None and any(a != 1 for a in attempts):
        message.append(list(attempts))
    return encode(message)
