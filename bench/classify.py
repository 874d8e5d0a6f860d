"""`bench/run.py classify`: posts/s of the whole classify stage (every head, one core).

Subject: the shipped classifier (shared features + sentiment, complaint, urgency heads,
intent rule, language) on batches of demo posts. Baseline, in the same run: VADER alone,
the usual lexicon tool, which gives sentiment only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.harness import Figure, Size, interleaved_chunks, rate_figure
from earful.demo.generate import generate

SIZES = {"quick": (300, 2), "default": (5_000, 5), "large": (20_000, 7)}
BATCH = 500
TARGET = 2_000


def _texts(n: int) -> list[str]:
    texts: list[str] = []
    for post in generate(seed=11, posts=n):
        texts.append(str(post["text"]))
    return texts[:n]


def _batches(texts: Sequence[str]) -> list[Sequence[str]]:
    return [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]


def run(size: Size) -> list[Figure]:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from earful.understanding.models import shipped

    n, repeat = SIZES[size]
    texts = _texts(n)
    batches = _batches(texts)
    model = shipped()
    model.load()
    vader = SentimentIntensityAnalyzer()

    def subject(i: int) -> None:
        model.classify(batches[i])

    def baseline(i: int) -> None:
        for text in batches[i]:
            vader.polarity_scores(text)

    # Batch by batch, alternately: a batch takes ~0.15 s (VADER ~0.03 s), so both sides
    # sample the same stretches of the host's speed.
    pair = interleaved_chunks(subject, baseline, chunks=len(batches), repeat=repeat, warmup=1)
    return [
        rate_figure(
            "classify",
            "classify stage, all heads (vs VADER sentiment only)",
            pair,
            len(texts),
            target=f">= {TARGET:,} posts/s on one core",
            passed=lambda value, _base: value >= TARGET,
        )
    ]
