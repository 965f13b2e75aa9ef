"""`python3 submit_square.py BUILD N BATCH`: a job of N square tasks submitted
from Python (zpipe.map) to 2 C++ zpipe-worker processes; prints tasks/s from
the call to the last result in the list, checked."""

import subprocess
import sys
import time

import zpipe

build, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
workers = []


def start_workers(job):
    for i in range(2):
        workers.append(subprocess.Popen([f"{build}/worker/zpipe-worker", "--ventilator", job.endpoint,
                                         "--sink", job.sink_endpoint, "--once", "--threads", "1",
                                         "--name", f"cpp{i}"], stderr=subprocess.DEVNULL))


started = time.perf_counter()
squares = zpipe.map("square", range(count), min_workers=2, batch=batch, on_ready=start_workers, timeout=60)
seconds = time.perf_counter() - started
assert squares == [n * n for n in range(count)], "wrong results"
for w in workers:
    w.wait(30)
print(f"{count / seconds:.0f}")
