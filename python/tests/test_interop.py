"""Python workers in real jobs beside the C++ programs: a job served by a C++
and a Python worker, a task that raises, kill -9 mid-job (of a compute
process, and of the whole worker) with nothing lost, CURVE between a Python
worker and the C++ servers. Every program is real, every port picked by the
kernel, every wait bounded."""

import os
import signal
import stat
import unittest

from support import Processes, program, wait_until


def ids_of(results):
    return sorted(results)


class Interop(Processes):
    def test_job_served_by_one_cpp_and_one_python_worker(self):
        sink, sink_ep = self.sink()
        ventilator, ventilator_ep = self.ventilator(sink_ep, "--count", "20000", "--kind", "square",
                                                    "--batch", "16", "--min-workers", "2")
        py = self.py_worker(ventilator_ep, sink_ep, "zpipe.builtin_kinds", "py", "--once")
        cpp = self.cpp_worker(ventilator_ep, sink_ep, "cpp", "--once")
        for proc in (ventilator, sink, py, cpp):
            self.assertEqual(self.exit_status(proc), 0, self.logs())
        results = self.results(sink)
        self.assertEqual(ids_of(results), list(range(1, 20001)))
        self.assertTrue(all(r["status"] == "ok" and r["result"] == r["task_id"] ** 2 for r in results.values()))
        served = {r["worker"] for r in results.values()}
        self.assertEqual(served, {"py", "cpp"}, "both workers served the job")

    def test_a_task_that_raises_is_a_failed_task_with_type_and_message(self):
        sink, sink_ep = self.sink()
        ventilator, ventilator_ep = self.ventilator(sink_ep, "--count", "10", "--kind", "boom", "--batch", "4")
        py = self.py_worker(ventilator_ep, sink_ep, "pytasks", "py", "--once")
        self.assertEqual(self.exit_status(ventilator), 0, self.logs())
        self.assertEqual(self.exit_status(sink), 1, "some tasks failed")
        self.assertEqual(self.exit_status(py), 0)
        results = self.results(sink)
        self.assertEqual(ids_of(results), list(range(1, 11)))
        for task_id, r in results.items():
            if task_id % 2:
                self.assertEqual(r["status"], "error")
                self.assertEqual(r["error"], f"ValueError: odd payload {task_id}")
            else:
                self.assertEqual((r["status"], r["result"]), ("ok", task_id))

    def test_long_tasks_keep_their_claim_through_keep_alives(self):
        """Tasks of 2.5 s on a worker the ventilator takes for gone after 1 s
        of silence: the network process keeps talking while the compute
        processes work, so nothing is dealt again."""
        sink, sink_ep = self.sink()
        inputs = os.path.join(self.dir, "tasks.txt")
        with open(inputs, "w") as f:
            f.write("2500\n2500\n")
        ventilator, ventilator_ep = self.ventilator(sink_ep, "--input", inputs, "--kind", "sleep",
                                                    "--worker-timeout", "1000")
        py = self.py_worker(ventilator_ep, sink_ep, "zpipe.builtin_kinds", "py", "--once", "--processes", "2")
        self.assertEqual(self.exit_status(ventilator), 0, self.logs())
        self.assertEqual(self.exit_status(sink), 0, self.logs())
        self.assertEqual(self.exit_status(py), 0)
        self.assertIn(b" 0 dealt again, 1 worker(s) (0 lost)", open(ventilator.log, "rb").read(), self.logs())

    def run_sleep_job(self, tasks, kill):
        """A job of `tasks` sleep tasks of 2 ms on a Python worker beside a C++
        one; kill(py) runs once the Python worker has results printed."""
        inputs = os.path.join(self.dir, "tasks.txt")
        with open(inputs, "w") as f:
            f.write("2\n" * tasks)
        sink, sink_ep = self.sink()
        ventilator, ventilator_ep = self.ventilator(sink_ep, "--input", inputs, "--kind", "sleep", "--batch", "4",
                                                    "--min-workers", "2", "--worker-timeout", "1000")
        py = self.py_worker(ventilator_ep, sink_ep, "pytasks", "py", "--processes", "2")
        cpp = self.cpp_worker(ventilator_ep, sink_ep, "cpp", "--once")

        def python_results():
            return sum(1 for r in self.results(sink).values() if r["worker"] == "py") >= 20
        wait_until(python_results, 60, "the Python worker's first results")
        kill(py)
        self.assertEqual(self.exit_status(ventilator, 120), 0, self.logs())
        self.assertEqual(self.exit_status(sink), 0, self.logs())
        results = self.results(sink)
        self.assertEqual(ids_of(results), list(range(1, tasks + 1)), "every task printed once")
        self.assertTrue(all(r["status"] == "ok" for r in results.values()))
        return py, cpp

    def test_python_worker_killed_mid_job_loses_nothing(self):
        def kill_worker(py):
            os.killpg(py.pid, signal.SIGKILL)  # the network process and its compute processes
        py, cpp = self.run_sleep_job(1500, kill_worker)
        self.assertEqual(self.exit_status(cpp), 0)

    def test_compute_process_killed_mid_job_is_restarted_and_nothing_lost(self):
        def kill_compute(py):
            children = [int(p) for p in open(f"/proc/{py.pid}/task/{py.pid}/children").read().split()]
            # spawn's resource tracker is a child too; the compute processes run zpipe
            computes = [c for c in children if b"resource_tracker" not in open(f"/proc/{c}/cmdline", "rb").read()]
            self.assertTrue(computes, "the Python worker has compute processes")
            os.kill(computes[0], signal.SIGKILL)
        py, _ = self.run_sleep_job(1500, kill_compute)
        wait_until(lambda: b"starting another" in open(py.log, "rb").read(), 10, "the worker to notice")
        self.assertEqual(py.poll(), None, "the worker serves on")
        os.kill(py.pid, signal.SIGTERM)
        self.assertEqual(self.exit_status(py, 20), 130)


class JobAfterJob(Processes):
    def test_python_worker_serves_job_after_job(self):
        """Without --once the worker waits for the next ventilator on the same
        endpoint, says hello to it, and serves its job too."""
        sink, sink_ep = self.sink()
        ventilator, ventilator_ep = self.ventilator(sink_ep, "--count", "500", "--kind", "square", "--batch", "8")
        py = self.py_worker(ventilator_ep, sink_ep, "zpipe.builtin_kinds", "py")
        self.assertEqual(self.exit_status(ventilator), 0, self.logs())
        self.assertEqual(self.exit_status(sink), 0, self.logs())
        self.assertEqual(len(self.results(sink)), 500)
        wait_until(lambda: b"waiting for the next job" in open(py.log, "rb").read(), 10, "the worker to wait")
        # The next job, on the same endpoints (libzmq binds with SO_REUSEADDR).
        sink2 = self.start("sink2", [program("zpipe-sink"), "--bind", sink_ep, "--format", "jsonl",
                                     "--progress", "never"])
        self.endpoint(sink2, "collecting results at ")
        ventilator2 = self.start("ventilator2", [program("zpipe-ventilator"), "--bind", ventilator_ep, "--sink", sink_ep,
                                                 "--count", "300", "--kind", "square", "--batch", "8"])
        self.assertEqual(self.exit_status(ventilator2), 0, self.logs())
        self.assertEqual(self.exit_status(sink2), 0, self.logs())
        self.assertEqual(sorted(self.results(sink2)), list(range(1, 301)))
        self.assertIsNone(py.poll(), "the worker serves on")
        os.kill(py.pid, signal.SIGTERM)
        self.assertEqual(self.exit_status(py, 20), 130)
        self.assertIn(b"served 2 job(s)", open(py.log, "rb").read())


class Curve(Processes):
    def keys(self, *names):
        for name in names:
            self.start("keygen-" + name, [program("zpipe-keygen"), os.path.join(self.dir, name)])
        for proc, _ in self.procs:
            self.assertEqual(self.exit_status(proc, 20), 0)
        return {n: (os.path.join(self.dir, n + ".key"), os.path.join(self.dir, n + ".pub")) for n in names}

    def servers(self, keys, allowed):
        workers, ventilators = os.path.join(self.dir, "workers"), os.path.join(self.dir, "ventilators")
        os.mkdir(workers)
        os.mkdir(ventilators)
        os.link(keys[allowed][1], os.path.join(workers, allowed + ".pub"))
        os.link(keys["ventilator"][1], os.path.join(ventilators, "ventilator.pub"))
        sink, sink_ep = self.sink("--curve-secret", keys["sink"][0], "--allow-workers", workers,
                                  "--allow-ventilators", ventilators)
        ventilator, ventilator_ep = self.ventilator(
            sink_ep, "--count", "2000", "--kind", "square", "--batch", "8", "--curve-secret", keys["ventilator"][0],
            "--allow-workers", workers, "--sink-key", keys["sink"][1])
        return sink, sink_ep, ventilator, ventilator_ep

    def python_worker(self, keys, name, ventilator_ep, sink_ep):
        return self.py_worker(ventilator_ep, sink_ep, "zpipe.builtin_kinds", name, "--once",
                              "--curve-secret", keys[name][0], "--ventilator-key", keys["ventilator"][1],
                              "--sink-key", keys["sink"][1])

    def test_python_worker_with_curve_serves_the_cpp_servers(self):
        keys = self.keys("sink", "ventilator", "worker")
        self.assertEqual(stat.S_IMODE(os.stat(keys["worker"][0]).st_mode), 0o600)
        sink, sink_ep, ventilator, ventilator_ep = self.servers(keys, "worker")
        py = self.python_worker(keys, "worker", ventilator_ep, sink_ep)
        for proc in (ventilator, sink, py):
            self.assertEqual(self.exit_status(proc), 0, self.logs())
        self.assertEqual(ids_of(self.results(sink)), list(range(1, 2001)))

    def test_python_worker_whose_key_is_not_allowed_exits_3(self):
        keys = self.keys("sink", "ventilator", "worker", "stranger")
        _, sink_ep, _, ventilator_ep = self.servers(keys, "worker")
        py = self.python_worker(keys, "stranger", ventilator_ep, sink_ep)
        self.assertEqual(self.exit_status(py, 30), 3, self.logs())
        self.assertIn(b"refused authentication", open(py.log, "rb").read())


if __name__ == "__main__":
    unittest.main()
