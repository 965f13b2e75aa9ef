"""The tasks the Python benchmarks serve: as little work as a task can do."""

import zpipe


@zpipe.task
def noop(n):
    return n
