"""Peak memory is the measured process's own, not inherited from the process that started it."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from earful.benchmarks.harness import peak_rss_mb

PARENT_MB = 200


def _child_peak() -> float:
    return peak_rss_mb()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and ru_maxrss are Linux's")
def test_a_spawned_child_reports_its_own_peak_not_its_parents() -> None:
    ballast = bytearray(PARENT_MB * 2**20)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))  # touch every page
    assert peak_rss_mb() >= PARENT_MB
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        child = pool.submit(_child_peak).result()
    # A bare interpreter that imported the harness: tens of MB. getrusage's ru_maxrss
    # would say the parent's peak here (it survives fork + exec).
    assert child < PARENT_MB / 2
    del ballast
