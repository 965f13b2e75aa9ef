"""``python3 -m zpipe.worker MODULE... --ventilator EP --sink EP``: serves the
@zpipe.task functions of MODULE(s); see ``--help``. The worker itself is
``zpipe._worker``."""

import sys

from ._worker import Worker, main, serve  # noqa: F401  (the public names, for `import zpipe.worker`)

if __name__ == "__main__":
    sys.exit(main())
