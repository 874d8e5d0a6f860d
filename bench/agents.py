"""Simulated agents working the inbox while posts arrive: the load and soak runs.

    python bench/agents.py load --agents 200 --rate 1000 --seconds 60
    python bench/agents.py soak --minutes 10 --rate 500 --agents 20
    python bench/agents.py load --database postgresql://postgres@127.0.0.1:5432/test

The same as ``python bench/run.py load`` / ``soak`` but on SQLite unless told otherwise
(see :mod:`bench.load`): the web app under uvicorn on a loopback port, the embedded
pipeline fed on a clock at the target posts/s, and async HTTP clients logged in as agents
of the demo brands (inbox, conversation, search, reply). For posts published into a Redis
Stream for ``earful worker`` processes instead, see ``bench/replay.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # `python bench/agents.py`: Python put bench/ on the path, not the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.run import app

if __name__ == "__main__":  # the guard matters: the run starts its processes by spawning
    app(prog_name="bench/agents.py")
