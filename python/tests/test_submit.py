"""Jobs submitted from Python (zpipe.Job, zpipe.map) through the C++ engine,
served by real zpipe-worker processes: results in input order, failures,
the fingerprint of a job of values, and a journal resumed after a cancel."""

import os
import signal
import sys
import unittest

import zpipe
from support import Processes, program, python_env, wait_until

try:
    from zpipe import job as _job
    HAVE_ENGINE = _job._engine is not None
except ImportError:
    HAVE_ENGINE = False


@unittest.skipUnless(HAVE_ENGINE, "zpipe._engine is not built")
class Submit(Processes):
    def workers(self, job, count=2, *extra):
        for i in range(count):
            self.start(f"cpp{i}", [program("zpipe-worker"), "--ventilator", job.endpoint, "--sink", job.sink_endpoint,
                                   "--name", f"cpp{i}", "--threads", "1", "--once", *extra])

    def test_map_on_cpp_workers_returns_results_in_input_order(self):
        payloads = list(range(-3, 5000)) + ["12", 3037000500]
        out = zpipe.map("square", payloads, min_workers=2, batch=16, timeout=60, on_ready=self.workers)
        self.assertEqual(out[:-1], [n * n for n in range(-3, 5000)] + [144])
        self.assertIsInstance(out[-1], zpipe.Result)
        self.assertFalse(out[-1].ok)
        self.assertIn("overflows", out[-1].error)
        for proc, _ in self.procs:
            self.assertEqual(self.exit_status(proc, 30), 0, self.logs())

    def test_job_results_each_task_once_with_its_worker(self):
        with zpipe.Job("square", "tcp://127.0.0.1:*", min_workers=2, batch=8) as job:
            self.workers(job)
            self.assertEqual(job.submit(range(1, 2001)), 2000)
            seen = {}
            for r in job.results(timeout=60):
                self.assertNotIn(r.task_id, seen)
                seen[r.task_id] = r
        self.assertEqual(sorted(seen), list(range(1, 2001)))
        self.assertTrue(all(r.ok and r.value == r.task_id ** 2 and r.error is None for r in seen.values()))
        self.assertEqual({r.worker for r in seen.values()}, {"cpp0", "cpp1"})
        self.assertEqual(job.fingerprint.split(":")[0], "fnv1a64")

    def test_failed_tasks_carry_their_error(self):
        with zpipe.Job("fail", "tcp://127.0.0.1:*") as job:
            self.workers(job, 1)
            job.submit(["a", "b"])
            results = sorted(job.results(timeout=60))
        self.assertEqual([(r.task_id, r.ok, r.value) for r in results], [(1, False, None), (2, False, None)])
        self.assertEqual(results[0].error, "task of kind 'fail' failed as asked (payload 'a')")

    def test_fingerprint_of_values_is_the_spec_vector(self):
        with zpipe.Job("square", "tcp://127.0.0.1:*") as job:
            self.workers(job, 1)
            job.submit([1, "x", None])
            list(job.results(timeout=60))
        self.assertEqual(job.fingerprint, "fnv1a64:038236eb3d4f3694:18")  # PROTOCOL.md §5.1

    def test_waiting_for_results_releases_the_gil(self):
        """While results() waits (no worker yet), another Python thread runs."""
        import threading
        counted, stop = [0], threading.Event()

        def count():
            while not stop.is_set():
                counted[0] += 1
        with zpipe.Job("square", "tcp://127.0.0.1:*") as job:
            job.submit(range(10))
            thread = threading.Thread(target=count)
            thread.start()
            before = counted[0]
            self.assertEqual(job._engine.take(0.5), b"")  # nothing yet: it waited 0.5 s
            during = counted[0] - before
            stop.set()
            thread.join()
            self.workers(job, 1)
            self.assertEqual(len(list(job.results(timeout=60))), 10)
        self.assertGreater(during, 10000, "the counting thread ran while take() waited")

    def test_journal_and_resume_after_the_submitting_process_is_killed(self):
        journal = os.path.join(self.dir, "job.journal")
        first = self.start("first-job", [sys.executable, "-c", FIRST_JOB, journal], env=python_env())
        endpoints = wait_until(lambda: open(first.out).readline().split() or (first.poll() is not None and
                                                                              self.fail(self.logs())),
                               20, "the first job to listen")
        for i in range(2):
            self.start(f"first{i}", [program("zpipe-worker"), "--ventilator", endpoints[0], "--sink", endpoints[1],
                                     "--name", f"first{i}", "--threads", "1"])
        wait_until(lambda: self.lines(first) > 50, 60, "50 results of the first job")
        os.kill(first.pid, signal.SIGKILL)  # the program, its sink and its ventilator at once
        first.wait(10)
        with open(first.out) as f:
            printed = {int(line) for line in f.read().split("\n")[1:-1]}
        second = {}
        with zpipe.Job("sleep", "tcp://127.0.0.1:*", journal=journal, resume=True, batch=4) as job:
            job.submit(["5"] * 400)
            self.workers(job, 2)
            for r in job.results(timeout=60):
                self.assertNotIn(r.task_id, second)
                second[r.task_id] = r
        # The resumed job yields every task once: those its journal held
        # first, the first run's among them (it may have taken some it never
        # printed before it was killed), then the rest.
        self.assertEqual(sorted(second), list(range(1, 401)), "every task once in the resumed job")
        self.assertLessEqual(printed, set(second))
        self.assertGreaterEqual(len(printed), 50)


# The first run of the resume test, in a process of its own that the test kills.
FIRST_JOB = """
import sys, zpipe
with zpipe.Job("sleep", "tcp://127.0.0.1:*", journal=sys.argv[1], batch=1) as job:
    job.submit(["5"] * 400)
    print(job.endpoint, job.sink_endpoint, flush=True)
    for r in job.results():
        print(r.task_id, flush=True)
"""


if __name__ == "__main__":
    unittest.main()
