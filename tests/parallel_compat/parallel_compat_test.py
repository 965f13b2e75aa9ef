#!/usr/bin/env python3
"""zpipe against GNU parallel: the same commands and inputs run through
`parallel -j2` and through a real zpipe pipeline (a ventilator, two
workers of one thread each and a sink, on tcp://127.0.0.1:* with the
ports read back from their logs), and every case asserts that both

  * printed the same stdout and stderr for each input (order-independent:
    parallel's per-input streams come from its --results, zpipe's from the
    sink's jsonl; parallel's `-k` stream is zpipe's stdouts in task order),
  * ended each input with the same Exitval, Signal and Receive in the
    joblog (both parsed by their header line; where zpipe logs every
    attempt of a retried task and parallel only the last, the last counts),
  * kept the same --results files with the same bytes, and
  * said the same thing overall (parallel's status is the number of failed
    inputs, the sink's 1 when any failed).

The --results mapping. parallel (`--results DIR`, one input source) writes
DIR/1/<input>/{seq,stdout,stderr}: the directory is named by the input
(with `/` escaped) and `seq` holds the input's number. zpipe-sink writes
DIR/<task id>/{stdout,stderr,exitval}: the task id is that number (the
input's line), and exitval holds what the joblog's Exitval and Signal say
(the exit status, 128 + N after signal N). So parallel's seq is zpipe's
directory name, stdout and stderr are the same files, and zpipe's exitval
is parallel's joblog line. (`parallel --results DIR/{#}/` gives zpipe's
layout, with seq where zpipe has exitval.)

A case is one Case(...) in the Compat class below: the input lines, the
command template (or none: each line is a command, as `parallel <
commands.txt`), options that both sides take (retries, mapped: parallel's
--retries counts every try, zpipe's the runs after the first; keep_order),
and any other options for either side (parallel_options, ventilator_options,
sink_options). A case whose outcome is not "the same" everywhere (a --halt
that stops early) calls run_both() and asserts what it needs.

Usage: parallel_compat_test.py BUILD_DIR [unittest arguments, e.g. Compat.test_retries]
Exits 77 (skipped) where GNU parallel is not installed
(scripts/bootstrap.sh --for-tests installs it).
"""

import base64
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

# Every program and every wait of a case is bounded by this; a case takes
# about a second.
LIMIT_S = 30
BUILD = None  # set from argv in main()


@dataclasses.dataclass
class Case:
    inputs: list                 # input lines (str), one task each
    template: str = None         # --command TEMPLATE; None: each line is a command
    retries: int = 0             # zpipe-ventilator --retries N: N more runs after a failure,
                                 # which is parallel's --retries N+1 (N tries in all; 0 = for ever)
    keep_order: bool = False     # -k / zpipe-sink --keep-order: zpipe's output in input order too
    seconds: float = LIMIT_S     # each side must finish within this
    parallel_options: tuple = ()     # more options for parallel (both of its runs)
    ventilator_options: tuple = ()   # ... for zpipe-ventilator
    sink_options: tuple = ()         # ... for zpipe-sink
    ventilator_status: int = 0       # zpipe-ventilator's exit status (5 after a --halt)
    worker_status: int = 0           # each zpipe-worker --once's (4 when the job ends unfinished)


@dataclasses.dataclass
class Run:
    """What one side did, keyed by the input's number (1, 2, ...)."""
    status: int                  # parallel's exit status, or the sink's
    streams: dict                # seq -> (stdout bytes, stderr bytes), per input
    joblog: dict                 # seq -> [rows as dicts by header], every attempt in order
    results: dict                # seq -> {file name: bytes} of --results
    stream: bytes = b""          # parallel -k: stdout as one stream; zpipe: stdouts in output order
    order: list = None           # zpipe: task ids in the order the sink printed them
    seconds: float = 0.0


def read_joblog(path):
    """Rows of a joblog, parsed by its own header line."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").split("\n")
    header = lines[0].split("\t")
    assert header[:8] == ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval", "Signal"], header
    rows = {}
    for line in lines[1:]:
        if not line:
            continue
        row = dict(zip(header, line.split("\t")))
        rows.setdefault(int(row["Seq"]), []).append(row)
    return rows


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def read_dir(path):
    return {name: read_file(os.path.join(path, name)) for name in os.listdir(path)}


def stream_of(record, name):
    """A jsonl exec record's stream as bytes: a string, or null with base64."""
    if record.get(name) is not None:
        return record[name].encode("utf-8")
    return base64.b64decode(record.get(name + "_base64") or "")


def write_inputs(path, inputs):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + "\n" for line in inputs))


class Sides(unittest.TestCase):
    """Runs a case through parallel and through zpipe, each in a folder of
    its own (commands run there, so relative paths are per side)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="zpipe-parallel-compat-")
        self.procs = []
        self.addCleanup(self._clean_up)

    def _clean_up(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        # Children a case left running on purpose (background jobs) wrote
        # their pids to *.pid files of the folder they ran in.
        for root, _, names in os.walk(self.dir):
            for name in names:
                if name.endswith(".pid"):
                    with open(os.path.join(root, name)) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except (ProcessLookupError, ValueError):
                                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_both(self, case):
        os.makedirs(os.path.join(self.dir, "parallel"))
        os.makedirs(os.path.join(self.dir, "zpipe"))
        write_inputs(os.path.join(self.dir, "inputs.txt"), case.inputs)
        return self.run_parallel(case), self.run_zpipe(case)

    # ---- GNU parallel ------------------------------------------------------

    def parallel(self, case, cwd, *options):
        """Runs parallel -j2 in cwd; returns (status, stdout)."""
        argv = ["parallel", "--will-cite", "-j2", *options, *case.parallel_options]
        if case.retries:
            argv += ["--retries", str(case.retries + 1)]
        if case.template is not None:
            argv.append(case.template)
        argv += ["::::", os.path.join(self.dir, "inputs.txt")]
        # Commands run in /bin/sh, as zpipe-worker runs them; parallel keeps
        # its own state under PARALLEL_HOME, not the user's ~/.parallel.
        env = dict(os.environ, PARALLEL_SHELL="/bin/sh", PARALLEL_HOME=os.path.join(self.dir, "parallel-home"))
        done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=case.seconds)
        return done.returncode, done.stdout

    def run_parallel(self, case):
        """Two runs in two folders: --results writes the streams to files
        only, so the stdout stream comes from a run with -k."""
        started = time.monotonic()
        here = os.path.join(self.dir, "parallel")
        status, _ = self.parallel(case, here, "--joblog", "joblog", "--results", "results")
        seconds = time.monotonic() - started
        streams, results = {}, {}
        # A directory per input, found by its seq file (an empty input's
        # files are in results/1 itself, beside the other inputs' folders).
        for folder, _, names in os.walk(os.path.join(here, "results")):
            if "seq" not in names:
                continue
            files = {name: read_file(os.path.join(folder, name)) for name in names}
            seq = int(files["seq"])
            self.assertNotIn(seq, results, f"parallel wrote input {seq}'s results twice")
            results[seq] = files
            streams[seq] = (files["stdout"], files["stderr"])
        ordered = os.path.join(self.dir, "parallel-k")
        os.makedirs(ordered)
        _, stream = self.parallel(case, ordered, "-k")
        return Run(status, streams, read_joblog(os.path.join(here, "joblog")), results, stream, seconds=seconds)

    # ---- zpipe -------------------------------------------------------------

    def program(self, role, name):
        path = os.path.join(BUILD, role, name)
        if not os.access(path, os.X_OK):
            self.fail(f"{path} is not built")
        return path

    def start(self, name, argv, cwd):
        here = os.path.join(self.dir, "zpipe")
        with open(os.path.join(here, name + ".err"), "wb") as err, \
                open(os.path.join(here, name + ".out"), "wb") as out:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        proc.name, proc.log = name, os.path.join(here, name + ".err")
        self.procs.append(proc)
        return proc

    def logs(self):
        text = []
        for proc in self.procs:
            with open(proc.log, errors="replace") as f:
                text.append(f"---- {proc.name} (status {proc.poll()}):\n{f.read()[-3000:]}")
        return "\n".join(text)

    def endpoint(self, proc, marker):
        """The endpoint a program logged after marker; 10 s at most."""
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            with open(proc.log, errors="replace") as f:
                found = re.search(re.escape(marker) + r"(tcp://[^ ,\n\"]+)", f.read())
            if found:
                return found.group(1)
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        self.fail(f"{proc.name} did not say where it listens:\n{self.logs()}")

    def wait(self, proc, seconds):
        try:
            return proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.fail(f"{proc.name} still running after {seconds:.0f} s:\n{self.logs()}")

    def run_zpipe(self, case):
        here = os.path.join(self.dir, "zpipe")
        started = time.monotonic()
        sink_options = [*case.sink_options, *(["--keep-order"] if case.keep_order else [])]
        sink = self.start("sink", [self.program("sink", "zpipe-sink"), "--bind", "tcp://127.0.0.1:*",
                                   "--format", "jsonl", "--progress", "never", "--joblog", "joblog",
                                   "--results", "results", *sink_options], here)
        sink_endpoint = self.endpoint(sink, "collecting results at ")
        job = ["--command", case.template] if case.template is not None else ["--kind", "exec"]
        if case.retries:
            job += ["--retries", str(case.retries)]
        ventilator = self.start("ventilator", [self.program("ventilator", "zpipe-ventilator"),
                                               "--bind", "tcp://127.0.0.1:*", "--sink", sink_endpoint,
                                               "--input", os.path.join(self.dir, "inputs.txt"),
                                               "--min-workers", "2", *job, *case.ventilator_options], here)
        ventilator_endpoint = self.endpoint(ventilator, "workers connect to ")
        workers = [self.start(f"worker{n}", [self.program("worker", "zpipe-worker"), "--ventilator",
                                            ventilator_endpoint, "--sink", sink_endpoint, "--name", f"w{n}",
                                            "--threads", "1", "--once", "--allow-exec",
                                            "--allow-exec-without-curve"], here)
                   for n in (1, 2)]
        status = self.wait(sink, case.seconds)
        seconds = time.monotonic() - started
        self.assertEqual(self.wait(ventilator, 10), case.ventilator_status, self.logs())
        for worker in workers:
            self.assertEqual(self.wait(worker, 10), case.worker_status, self.logs())

        streams, order, stream = {}, [], b""
        with open(os.path.join(here, "sink.out"), "rb") as f:
            for line in f:
                record = json.loads(line)
                seq = record["task_id"]
                self.assertNotIn(seq, streams, "the sink printed a task twice")
                streams[seq] = (stream_of(record, "stdout"), stream_of(record, "stderr"))
                order.append(seq)
                stream += streams[seq][0]
        results = {int(name): read_dir(os.path.join(here, "results", name))
                   for name in os.listdir(os.path.join(here, "results"))}
        return Run(status, streams, read_joblog(os.path.join(here, "joblog")), results, stream, order, seconds)

    # ---- the comparison ----------------------------------------------------

    def assert_same(self, case, par, zp):
        """Everything a user sees is the same on both sides (the module's
        docstring lists what)."""
        seqs = list(range(1, len(case.inputs) + 1))
        context = f"\nzpipe's logs:\n{self.logs()}"
        self.assertLess(par.seconds, case.seconds)
        self.assertLess(zp.seconds, case.seconds, context)
        self.assertEqual(sorted(par.streams), seqs, "parallel ran every input once")
        self.assertEqual(sorted(zp.streams), seqs, "zpipe printed every input once" + context)
        for seq in seqs:
            what = f"input {seq} ({case.inputs[seq - 1]!r})"
            self.assertEqual(zp.streams[seq][0], par.streams[seq][0], f"stdout of {what}")
            self.assertEqual(zp.streams[seq][1], par.streams[seq][1], f"stderr of {what}")
        self.assertEqual(b"".join(zp.streams[seq][0] for seq in seqs), par.stream,
                         "parallel -k's stream is zpipe's stdouts in input order")
        if case.keep_order:
            self.assertEqual(zp.order, seqs, "--keep-order prints in input order")
            self.assertEqual(zp.stream, par.stream)

        # The joblog: the last attempt of each input decides.
        self.assertEqual(sorted(par.joblog), seqs)
        self.assertEqual(sorted(zp.joblog), seqs, context)
        for seq in seqs:
            last_par, last_zp = par.joblog[seq][-1], zp.joblog[seq][-1]
            for column in ("Exitval", "Signal", "Receive"):
                self.assertEqual(last_zp[column], last_par[column],
                                 f"joblog {column} of input {seq} ({case.inputs[seq - 1]!r})")
            self.assertLessEqual(len(zp.joblog[seq]), case.retries + 1, "at most 1 + --retries attempts")

        # --results: parallel's seq is zpipe's directory, its joblog zpipe's exitval.
        self.assertEqual(sorted(par.results), seqs)
        self.assertEqual(sorted(zp.results), seqs, context)
        for seq in seqs:
            self.assertEqual(sorted(par.results[seq]), ["seq", "stderr", "stdout"])
            self.assertEqual(sorted(zp.results[seq]), ["exitval", "stderr", "stdout"])
            for name in ("stdout", "stderr"):
                self.assertEqual(zp.results[seq][name], par.results[seq][name], f"results {seq}/{name}")
            row = par.joblog[seq][-1]
            exitval = 128 + int(row["Signal"]) if row["Signal"] != "0" else int(row["Exitval"])
            self.assertEqual(zp.results[seq]["exitval"], f"{exitval}\n".encode(), f"results {seq}/exitval")

        # parallel exits with the number of failed inputs, the sink 1 if any.
        self.assertEqual(zp.status, 1 if par.status else 0, context)

    def check(self, case):
        par, zp = self.run_both(case)
        self.assert_same(case, par, zp)
        return par, zp


# A template that shows every replacement string, each in brackets.
EVERY_REPLACEMENT = "printf '[%s]' {} {.} {/} {//} {/.} {#}; echo"


class Compat(Sides):
    def test_failing_commands(self):
        """Exit statuses, signals, and streams of failed commands are kept."""
        par, _ = self.check(Case([
            "true",
            "exit 1",
            "exit 255",
            "echo out; echo err >&2; exit 7",
            "echo only-err >&2; false",
            "kill -TERM $$",
            "echo before; kill -9 $$",
            "no-such-command-zpipe-compat",
        ]))
        self.assertEqual(par.status, 7, "parallel: 7 of 8 failed")

    def test_multi_line_output(self):
        self.check(Case([
            "printf 'one\\ntwo\\n\\nfour'",
            "seq 1 2000",
            "printf 'a\\tb\\r\\nc\\n'; printf 'e1\\ne2\\n' >&2",
            "printf ''",
            "printf '\\n\\n\\n'",
        ]))

    def test_binary_output(self):
        """Bytes that are not UTF-8 (every byte value, NUL included) come
        back as they were written, on stdout and on stderr."""
        self.check(Case([
            "perl -e 'print map chr, 0..255'",
            "printf '\\377\\376\\000bin\\n'; printf '\\200err\\n' >&2",
            "perl -e 'print chr(0xe9), \"t\\xc3\\xa9\\n\"'",
            "head -c 100000 /dev/zero | tr '\\0' '\\377'",
        ]))

    def test_background_children_do_not_hold_the_task(self):
        """`sleep 30 & echo started` is done when its shell exits, in both:
        neither waits for the child that still holds stdout open."""
        # Each child's pid goes to a file, for the clean-up to kill it.
        self.check(Case(["a", "b", "c", "d"], template="sleep 30 & echo $! > bg-{#}.pid; echo started {}",
                        seconds=10))
        # Neither killed the child when its shell exited.
        for side in ("parallel", "zpipe"):
            for seq in range(1, 5):
                with open(os.path.join(self.dir, side, f"bg-{seq}.pid")) as f:
                    os.kill(int(f.read()), 0)  # raises ProcessLookupError when it is gone

    def test_inputs_with_spaces_and_quotes_in_every_replacement_string(self):
        self.check(Case([
            "plain",
            "two words.txt",
            "it's.tar.gz",
            'say "hi"/there.c',
            "/abs/path/with space/file.name.ext",
            "dir/sub.dir/noext",
            "$HOME and `id` and $(id)",
            "back\\slash\\n",
            "-n",
            "*",
            "semi;colon|pipe&amp",
            "  leading and trailing  ",
            "tab\there",
            "ünïcödé/名前.txt",
        ], template=EVERY_REPLACEMENT))

    def test_replacement_strings_on_path_edge_cases(self):
        """Dotfiles, trailing and doubled slashes, the root, an empty line:
        parallel's definitions are regexes and Perl's dirname, and zpipe's
        must give the same."""
        self.check(Case([".bashrc", "dir/.hidden", "a.", "x/", "x//", "/", "//x", "a//b", "/root.txt",
                         "", "./rel.txt", "../up/x.y.z", "dir.d/noext"], template=EVERY_REPLACEMENT))

    def test_quotes_in_command_lines(self):
        """Each line a command, as `parallel < commands.txt`."""
        self.check(Case([
            "echo \"a  b\" 'c  d' e\\ f",
            "printf '%s|' \"it's\" 'say \"hi\"'; echo",
            "x='$HOME'; echo \"$x\"",
        ]))

    def test_retries(self):
        """A command that fails the first time and succeeds the second
        (a marker file per input) succeeds with --retries 1; one that always
        fails ends with its last attempt's status."""
        self.check(Case([
            "first",
            "always fails",
            "second one",
        ], template="if [ {} = 'always fails' ]; then echo nope {} >&2; exit 4; fi; "
                    "if [ -e tried-{#} ]; then echo ok {}; else : > tried-{#}; echo failed {} >&2; exit 3; fi",
           retries=1))

    def test_halt_now_on_the_first_failure(self):
        """--halt now,fail=1: the failure is kept as it was, the commands
        that run are killed (neither side waits for their 20 s) and neither
        prints them; parallel exits with the failed command's status, the
        sink with 5 (halted)."""
        case = Case(["exit 3"] + [f"sleep 20; echo late {n}" for n in range(2, 9)],
                    parallel_options=("--halt", "now,fail=1"), ventilator_options=("--halt", "now,fail=1"),
                    ventilator_status=5, worker_status=4, seconds=15)
        par, zp = self.run_both(case)
        context = f"\nzpipe's logs:\n{self.logs()}"
        self.assertLess(par.seconds, 15)
        self.assertLess(zp.seconds, 15, context)
        self.assertEqual(par.status, 3, "parallel exits with the failed command's status")
        self.assertEqual(zp.status, 5, "the sink: halted" + context)
        self.assertEqual(zp.joblog[1][-1]["Exitval"], par.joblog[1][-1]["Exitval"])
        self.assertEqual(sorted(zp.streams), [1], "zpipe printed the failure alone" + context)
        self.assertNotIn(b"late", par.stream + b"".join(out for out, _ in par.streams.values()))


def main():
    global BUILD
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    BUILD = os.path.abspath(sys.argv[1])
    if shutil.which("parallel") is None:
        print("SKIPPED: GNU parallel is not installed (scripts/bootstrap.sh --for-tests installs it)")
        return 77
    version = subprocess.run(["parallel", "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, timeout=LIMIT_S).stdout.decode(errors="replace")
    if not version.startswith("GNU parallel"):
        print(f"SKIPPED: `parallel` is not GNU parallel (moreutils' has the same name): {version[:60]!r}")
        return 77
    print(version.splitlines()[0])
    program = unittest.main(argv=[sys.argv[0], "-v", *sys.argv[2:]], exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
