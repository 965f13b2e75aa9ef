"""What the Python process tests share: the real programs of a zpipe build
(ZPIPE_BUILD_DIR), started on ports the kernel picks (tcp://127.0.0.1:*,
read back from their logs), and waits that are always bounded."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYTHON_DIR)
BUILD = os.environ.get("ZPIPE_BUILD_DIR", os.path.join(ROOT, "build"))


def program(name):
    role = {"zpipe-sink": "sink", "zpipe-ventilator": "ventilator", "zpipe-worker": "worker",
            "zpipe-keygen": "shared"}[name]
    path = os.path.join(BUILD, role, name)
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"{path} is not built (set ZPIPE_BUILD_DIR)")
    return path


def python_env():
    env = dict(os.environ)
    engine = [os.path.join(BUILD, "python")] if os.path.isdir(os.path.join(BUILD, "python")) else []
    env["PYTHONPATH"] = os.pathsep.join([PYTHON_DIR, HERE] + engine + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def wait_until(condition, seconds, what):
    """Polls condition() every 20 ms; raises AssertionError after `seconds`."""
    give_up = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.02)


class Processes(unittest.TestCase):
    """A TestCase that starts programs and kills whatever is left at the end."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="zpipe-pytest-")
        self.procs = []
        self.addCleanup(self._stop_all)

    def _stop_all(self):
        for proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def start(self, name, argv, env=None):
        """Starts argv with stdout and stderr in files of the test's folder."""
        log = os.path.join(self.dir, name + ".log")
        out = os.path.join(self.dir, name + ".out")
        with open(log, "wb") as err, open(out, "wb") as stdout:
            proc = subprocess.Popen(argv, stdout=stdout, stderr=err, env=env, start_new_session=True)
        self.procs.append((proc, log))
        proc.log, proc.out, proc.name = log, out, name
        return proc

    def logs(self):
        text = []
        for proc, log in self.procs:
            with open(log, errors="replace") as f:
                text.append(f"---- {proc.name} (status {proc.poll()}):\n{f.read()[-3000:]}")
        return "\n".join(text)

    def endpoint(self, proc, marker):
        def found():
            with open(proc.log, errors="replace") as f:
                m = re.search(re.escape(marker) + r"(tcp://[^ ,\n]+)", f.read())
            if m:
                return m.group(1)
            if proc.poll() is not None:
                raise AssertionError(f"{proc.name} exited {proc.returncode} before listening:\n{self.logs()}")
            return None
        return wait_until(found, 10, f"{proc.name} to listen")

    def exit_status(self, proc, seconds=60):
        try:
            return proc.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{proc.name} still running after {seconds} s:\n{self.logs()}") from None

    # ---- the programs ---------------------------------------------------

    def sink(self, *extra):
        proc = self.start("sink", [program("zpipe-sink"), "--bind", "tcp://127.0.0.1:*", "--format", "jsonl",
                                   "--progress", "never", *extra])
        return proc, self.endpoint(proc, "collecting results at ")

    def ventilator(self, sink, *extra):
        proc = self.start("ventilator", [program("zpipe-ventilator"), "--bind", "tcp://127.0.0.1:*",
                                         "--sink", sink, *extra])
        return proc, self.endpoint(proc, "workers connect to ")

    def cpp_worker(self, ventilator, sink, name="cpp", *extra):
        return self.start(name, [program("zpipe-worker"), "--ventilator", ventilator, "--sink", sink,
                                 "--name", name, "--threads", "1", *extra])

    def py_worker(self, ventilator, sink, module="zpipe.builtin_kinds", name="py", *extra):
        return self.start(name, [sys.executable, "-m", "zpipe.worker", module, "--ventilator", ventilator,
                                 "--sink", sink, "--name", name, "--processes", "1", *extra], env=python_env())

    def results(self, sink_proc):
        """The sink's jsonl output: {task_id: record}, checking each id came once."""
        import json
        seen = {}
        with open(sink_proc.out) as f:
            for line in f:
                record = json.loads(line)
                self.assertNotIn(record["task_id"], seen, "a task printed twice")
                seen[record["task_id"]] = record
        return seen

    def lines(self, proc):
        with open(proc.out, "rb") as f:
            return f.read().count(b"\n")
