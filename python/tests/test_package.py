"""The package as a user meets it, without sockets: a docstring on every
public function and class, ``--help`` and ``import zpipe`` without pyzmq (and
the worker saying what to install), and the payload and result types a task
function sees (README, @zpipe.task)."""

import ast
import os
import subprocess
import sys
import unittest

from support import PYTHON_DIR, python_env
from zpipe import _compute, protocol

PACKAGE = os.path.join(PYTHON_DIR, "zpipe")

# Runs a module as `python3 -m` would, in a Python where importing the
# modules named in argv[1] (comma-separated) fails.
WITHOUT = ("import runpy, sys; sys.modules.update(dict.fromkeys(sys.argv.pop(1).split(','))); "
           "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def without_pyzmq(module, *args, missing="zmq"):
    return subprocess.run([sys.executable, "-c", WITHOUT, missing, module, *args], env=python_env(),
                          capture_output=True, text=True, timeout=15)


class Docstrings(unittest.TestCase):
    def test_every_public_function_and_class_has_one(self):
        missing, seen = [], 0
        for filename in sorted(os.listdir(PACKAGE)):
            if not filename.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(PACKAGE, filename), encoding="utf-8").read())
            if not ast.get_docstring(tree):
                missing.append(filename)
            scopes = [("", tree)]
            while scopes:
                prefix, scope = scopes.pop()
                for node in scope.body:
                    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        continue
                    if node.name.startswith("_"):
                        continue
                    seen += 1
                    if not ast.get_docstring(node):
                        missing.append(f"{filename}: {prefix}{node.name}")
                    if isinstance(node, ast.ClassDef):
                        scopes.append((f"{node.name}.", node))
        self.assertGreater(seen, 30)
        self.assertEqual(missing, [], "public names without a docstring")


class WithoutPyzmq(unittest.TestCase):
    def test_help_needs_no_pyzmq(self):
        for module, wanted in (("zpipe", "usage: python3 -m zpipe COMMAND"), ("zpipe.worker", "--ventilator")):
            with self.subTest(module=module):
                run = without_pyzmq(module, "--help")
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertIn(wanted, run.stdout)
        run = without_pyzmq("zpipe", "--help", missing="zmq,msgpack")
        self.assertEqual(run.returncode, 0, run.stderr)

    def test_registering_tasks_needs_no_pyzmq(self):
        run = without_pyzmq("zpipe", "kinds", "pytasks")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("together", run.stdout.split())

    def test_a_worker_started_without_pyzmq_says_what_to_install(self):
        run = without_pyzmq("zpipe.worker", "zpipe.builtin_kinds", "--once")
        self.assertEqual(run.returncode, 3, run.stderr)
        self.assertIn("needs pyzmq", run.stderr)
        self.assertIn("apt install python3-zmq", run.stderr)
        code = ("import sys; sys.modules['zmq'] = None; import zpipe, zpipe.builtin_kinds\n"
                "try:\n    zpipe.serve(once=True)\nexcept ImportError as e:\n    print(e)")
        run = subprocess.run([sys.executable, "-c", code], env=python_env(), capture_output=True, text=True,
                             timeout=15)
        self.assertIn("apt install python3-zmq", run.stdout, run.stderr)


class TaskFunctionTypes(unittest.TestCase):
    """What README's Python section and @zpipe.task's docstring promise."""

    def run_one(self, payload, function):
        frame = protocol.encode([2, protocol.TASKS, 7, "probe", [1], [payload], []])
        if isinstance(payload, bytes):  # protocol.encode would write bin: that is the point here
            self.assertIn(b"\xc4", frame)
        frames, bad, _ = _compute.run_frame(frame, {"probe": function}, "w1")
        self.assertIsNone(bad)
        results = protocol.decode(frames[0])
        return results[5][0], results[6][0], frame

    def test_payloads_arrive_as_int_str_or_none(self):
        for payload, arrives in ((5, 5), ("x", "x"), (None, None), (b"x\xff", "x\udcff")):
            with self.subTest(payload=payload):
                seen = []
                ok, value, _ = self.run_one(payload, lambda p: seen.append(p) or 0)
                self.assertTrue(ok, value)
                self.assertEqual(seen, [arrives])
                self.assertIn(type(seen[0]), (int, str, type(None)), "never bytes, even from a bin payload")

    def test_results_may_be_int_str_bytes_or_none(self):
        for result, sent in ((5, b"\x05"), ("x", b"\xa1x"), (b"x", b"\xa1x"), (None, b"\xc0")):
            with self.subTest(result=result):
                frame = protocol.encode([2, protocol.TASKS, 7, "probe", [1], [0], []])
                frames, _, _ = _compute.run_frame(frame, {"probe": lambda p: result}, "w1")
                self.assertEqual(protocol.decode(frames[0])[5], [True])
                self.assertIn(b"\x91" + sent + b"\x90", frames[0], "bytes go out as a str")
        for bad in (1.5, True, [1]):
            with self.subTest(result=bad):
                ok, value, _ = self.run_one(0, lambda p: bad)
                self.assertFalse(ok)
                self.assertIn("not a zpipe value", value)


if __name__ == "__main__":
    unittest.main()
