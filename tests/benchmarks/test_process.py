"""What a suite measures of the process, and what it leaves to the suites after it.

Peak memory is the measured process's own, not inherited from the process that started it;
a suite that pins the process to one core gives it back its CPUs; an isolated measurement
runs in a fresh interpreter whose hash seed is the same from one run to the next.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from bench import ingest
from bench.harness import HASH_SEED, Figure, Size, isolated, peak_rss_mb

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


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_the_ingest_suite_runs_on_one_core_and_gives_the_process_its_cpus_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    real = ingest._run

    def spy(size: Size, database: str | None) -> list[Figure]:
        seen.append(os.sched_getaffinity(0))
        return real(size, database)

    monkeypatch.setattr(ingest, "_run", spy)
    figures = ingest.run("quick")
    assert seen == [{min(before)}] and figures
    # the workers suite forks from this process later: pinned, its workers share one core
    assert os.sched_getaffinity(0) == before


def _whoami(word: str) -> tuple[int, int, int, str | None]:
    return os.getpid(), sys.flags.hash_randomization, hash(word), os.environ.get("PYTHONHASHSEED")


def test_an_isolated_call_runs_in_a_fresh_process_with_the_same_hash_seed_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    first = isolated(_whoami, "earful")
    second = isolated(_whoami, "earful")
    assert first[0] != os.getpid() and second[0] not in (os.getpid(), first[0])
    # a fixed seed: no randomisation, and a string hashes alike in both processes
    assert first[1:] == second[1:] == (0, first[2], HASH_SEED)
    assert "PYTHONHASHSEED" not in os.environ  # the bench process's own is left as it was
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    isolated(_whoami, "earful")
    assert os.environ["PYTHONHASHSEED"] == "random"
