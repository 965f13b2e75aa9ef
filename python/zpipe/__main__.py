"""``python3 -m zpipe``: the commands of the zpipe Python package."""

import sys

USAGE = """usage: python3 -m zpipe COMMAND [ARGS]

zpipe for Python: run task functions written in Python as zpipe workers, and
submit jobs from Python programs to zpipe's C++ engine.

commands:
  worker MODULE... --ventilator EP --sink EP [--processes N] [--once] ...
                 serve the @zpipe.task functions of MODULE(s)
                 (the same as python3 -m zpipe.worker; see its --help)
  kinds MODULE...
                 list the task kinds MODULE(s) register

in a program:
  @zpipe.task                           register a function as a task kind
  zpipe.serve(ventilator=, sink=, processes=)
                                        serve the registered kinds
  with zpipe.Job(kind, bind=, min_workers=) as job:
      job.submit(iterable); job.results()
                                        submit a job, read results as they complete
  zpipe.map(kind, iterable, ...)        results in input order

The wire protocol is shared/PROTOCOL.md in the zpipe sources.
"""


def main(argv):
    """Runs the command ``argv`` names (``worker``, ``kinds``, ``--help``)
    with the rest of ``argv`` as its arguments. Returns an exit status: the
    command's, 2 for no command or an unknown one."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "worker":
        from ._worker import main as worker_main
        return worker_main(rest)
    if command == "kinds":
        from ._worker import import_tasks
        for kind in sorted(import_tasks(rest)):
            print(kind)
        return 0
    print(f"zpipe: unknown command '{command}' (see python3 -m zpipe --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
