"""``python -m earful.worker``: the ``earful worker`` command alone.

Same options and behaviour, without importing the rest of the command line (the web app,
the benchmarks): a worker restarted after a crash is back in about half the time, since
every restart pays the interpreter and the imports again.
"""

from __future__ import annotations

import typer

from earful.cli.worker import worker


def main() -> None:
    typer.run(worker)


if __name__ == "__main__":
    main()
