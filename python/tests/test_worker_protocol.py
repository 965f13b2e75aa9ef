"""The Python worker against a ventilator and a sink played by this test,
frame by frame (PROTOCOL.md §6.2, §6.4.6): hello with its kinds after the
handshake, keep-alives, hello again on hello_again, results and a credit for
a tasks frame (with the attempts of retried tasks), a bad frame survived, and --once ending on a job_end for a job
it never saw; and that --processes N runs N tasks at the same time."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

from support import python_env
from zpipe import protocol


class PythonWorkerProtocol(unittest.TestCase):
    def setUp(self):
        self.context = zmq.Context()
        self.addCleanup(self.context.destroy, 0)
        self.ventilator, self.sink = self.context.socket(zmq.ROUTER), self.context.socket(zmq.ROUTER)
        self.ventilator.bind("tcp://127.0.0.1:*")
        self.sink.bind("tcp://127.0.0.1:*")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "zpipe.worker", "zpipe.builtin_kinds", "--name", "w1", "--once", "--processes", "1",
             "--ventilator", self.ventilator.last_endpoint.decode(), "--sink", self.sink.last_endpoint.decode()],
            env=python_env(), stderr=subprocess.PIPE)
        self.addCleanup(lambda: self.worker.poll() is None and (self.worker.kill(), self.worker.wait()))

    def receive(self, socket, wanted, seconds=10):
        """The next frame of type `wanted` (others are skipped): (peer, decoded)."""
        give_up = time.monotonic() + seconds
        while True:
            left = give_up - time.monotonic()
            self.assertTrue(left > 0 and socket.poll(int(left * 1000)), f"no {protocol.NAMES[wanted]} in {seconds} s")
            peer, frame = socket.recv_multipart()
            if protocol.peek_type(frame) == wanted:
                return peer, protocol.decode(frame)

    def test_the_worker_speaks_the_protocol(self):
        peer, hello = self.receive(self.ventilator, protocol.HELLO)
        self.assertEqual(hello, [2, 1, "w1", 2, ["fail", "sleep", "square"]], "hello{worker, window, kinds}")
        started = time.monotonic()
        _, keep_alive = self.receive(self.ventilator, protocol.CREDIT, 2)
        self.assertEqual(keep_alive, [2, 2, 0])
        self.assertLess(time.monotonic() - started, 1.0, "a keep-alive within 250 ms or so")

        self.ventilator.send_multipart([peer, protocol.encode([2, protocol.HELLO_AGAIN])])
        _, again = self.receive(self.ventilator, protocol.HELLO)
        self.assertEqual(again[:4], [2, 1, "w1", 2])

        self.ventilator.send_multipart([peer, b"\x93\x01\x02"])  # truncated: dropped, the worker goes on
        frame = protocol.encode([2, protocol.TASKS, 7, "square", [1, 2, 3], [5, "x", -4], [[1, 3, bytes(16)]]])
        self.ventilator.send_multipart([peer, frame])
        _, results = self.receive(self.sink, protocol.RESULTS)
        self.assertEqual(results[:6], [2, 4, 7, "w1", [1, 2, 3], [True, False, True]])
        self.assertEqual(results[7], [[1, 3, bytes(16)]], "the leases of the tasks frame come back")
        self.assertEqual((results[6][0], results[6][2]), (25, 16))
        self.assertTrue(results[6][1].startswith("ValueError: square needs an integer payload"))
        while True:  # the frame's credit comes back (keep-alives may come first)
            _, credit = self.receive(self.ventilator, protocol.CREDIT)
            if credit[2] > 0:
                break

        # A retried task's attempt comes back with its result (§6.7): the sink
        # tells a final failure by it. First attempts send no attempts.
        self.assertEqual(len(results), 8, "no attempts while every task is at its first")
        frame = protocol.encode([2, protocol.TASKS, 7, "square", [4, 5], [2, "y"], [[4, 5, bytes(16)]], [1, 3]])
        self.ventilator.send_multipart([peer, frame])
        _, results = self.receive(self.sink, protocol.RESULTS)
        self.assertEqual(results[4:6], [[4, 5], [True, False]])
        self.assertEqual(results[8], [1, 3], "the attempts of the tasks frame come back")

        self.ventilator.send_multipart([peer, protocol.encode([2, protocol.JOB_END, 99, True])])  # a job never seen
        self.assertEqual(self.worker.wait(10), 0)
        log = self.worker.stderr.read()
        self.assertIn(b"job 99 is complete", log)
        self.assertIn(b"frames rejected: 1", log)


class ComputeProcessesRunAtOnce(unittest.TestCase):
    """--processes N is there to beat the GIL: N tasks must run at the same
    time. Each task of kind `together` (tests/pytasks.py) waits, bounded,
    until another process has started one too."""

    def run_together(self, processes, seconds, until_failure):
        """Four tasks frames of one `together` task each, to a worker of
        `processes` compute processes: {task id: (ok, value)}, all four, or
        those up to the first failure. Its window is 4 frames, so a process
        holds at most 2 of them (`_dispatch`): whichever process is ready
        first, the other gets 2 frames too."""
        context = zmq.Context()
        self.addCleanup(context.destroy, 0)
        ventilator, sink = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
        ventilator.bind("tcp://127.0.0.1:*")
        sink.bind("tcp://127.0.0.1:*")
        worker = subprocess.Popen(
            [sys.executable, "-m", "zpipe.worker", "pytasks", "--name", "w1", "--once", "--window", "4",
             "--processes", str(processes), "--ventilator", ventilator.last_endpoint.decode(),
             "--sink", sink.last_endpoint.decode()], env=python_env(), stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: worker.poll() is None and (worker.kill(), worker.wait()))
        meeting = tempfile.mkdtemp(prefix="zpipe-together-")
        self.addCleanup(shutil.rmtree, meeting, True)

        give_up = time.monotonic() + 15
        def frame(socket):
            left = give_up - time.monotonic()
            self.assertTrue(left > 0 and socket.poll(int(left * 1000)), "the worker went quiet")
            return socket.recv_multipart()
        while True:
            peer, hello = frame(ventilator)
            if protocol.peek_type(hello) == protocol.HELLO:
                break
        for task_id in range(1, 5):
            ventilator.send_multipart([peer, protocol.encode(
                [2, protocol.TASKS, 7, "together", [task_id], [f"{meeting} {seconds}"], []])])
        results = {}
        while len(results) < 4:
            _, message = frame(sink)
            message = protocol.decode(message)
            results.update(zip(message[4], zip(message[5], message[6])))
            if until_failure and not all(message[5]):
                break
        ventilator.send_multipart([peer, protocol.encode([2, protocol.JOB_END, 7, True])])
        self.assertEqual(worker.wait(10), 0)
        return results

    def test_two_processes_run_two_tasks_at_once(self):
        results = self.run_together(2, 10, until_failure=True)
        self.assertTrue(all(ok for ok, _ in results.values()), results)
        self.assertEqual(sorted(results), [1, 2, 3, 4])
        self.assertEqual(len({pid for _, pid in results.values()}), 2, "two compute processes served them")

    def test_one_process_cannot_meet_itself(self):
        """The control: with one process the same tasks time out."""
        results = self.run_together(1, 0.3, until_failure=False)
        self.assertEqual(sorted(results), [1, 2, 3, 4])
        self.assertFalse(any(ok for ok, _ in results.values()), results)
        self.assertTrue(all(v.startswith("TimeoutError: ") for _, v in results.values()), results)


if __name__ == "__main__":
    unittest.main()
