"""Simulated agents working the inbox while posts arrive: the load and soak runs.

    python bench/agents.py load --agents 200 --rate 1000 --seconds 60
    python bench/agents.py soak --minutes 10 --rate 500 --agents 20
    python bench/agents.py load --database postgresql://postgres@127.0.0.1:5432/test

The same as ``earful bench load`` / ``earful bench soak`` (see
:mod:`earful.benchmarks.load`): the web app under uvicorn on a loopback port, the
embedded pipeline fed on a clock at the target posts/s, and async HTTP clients logged in
as agents of the demo brands (inbox, conversation, search, reply). For posts published
into a Redis Stream for ``earful worker`` processes instead, see ``bench/replay.py``.
"""

from __future__ import annotations

import sys

from earful.cli.main import app

if __name__ == "__main__":  # the guard matters: the run starts its processes by spawning
    sys.argv = ["earful", "bench", *sys.argv[1:]]
    app()
