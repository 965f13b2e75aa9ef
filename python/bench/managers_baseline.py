"""The classic script zpipe replaces, written from the README's description:
a master puts tasks on a multiprocessing.managers queue, a worker (on another
PC; here another process) takes them, computes and puts results on a second
queue. `python3 managers_baseline.py N` prints tasks/s for N square tasks."""

import multiprocessing
import queue
import sys
import threading
import time
from multiprocessing.managers import BaseManager

AUTHKEY = b"benchmark"


class QueueManager(BaseManager):
    pass


def worker(address):
    QueueManager.register("tasks")
    QueueManager.register("results")
    manager = QueueManager(address=address, authkey=AUTHKEY)
    manager.connect()
    tasks, results = manager.tasks(), manager.results()
    while True:
        n = tasks.get()
        if n is None:
            return
        results.put((n, n * n))


def main(count):
    task_queue, result_queue = queue.Queue(), queue.Queue()
    QueueManager.register("tasks", callable=lambda: task_queue)
    QueueManager.register("results", callable=lambda: result_queue)
    manager = QueueManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
    server = manager.get_server()
    # The master serves its queues on a thread; the worker connects over TCP.
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = server.address
    process = multiprocessing.get_context("spawn").Process(target=worker, args=(address,))
    process.start()
    started = time.perf_counter()
    for n in range(count):
        task_queue.put(n)
    task_queue.put(None)
    got = 0
    while got < count:
        n, square = result_queue.get(timeout=60)
        assert square == n * n
        got += 1
    seconds = time.perf_counter() - started
    process.join(10)
    print(f"{count / seconds:.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
