"""`bench/run.py classify`: posts/s of the whole classify stage (every head, one core).

Subject: the shipped classifier (shared features + sentiment, complaint, urgency heads,
intent rule, language) on batches of demo posts. Baseline, in the same run: VADER alone,
the usual lexicon tool, which gives sentiment only.

Second figure, where the second tier is shipped: the second tier (the int8 transformer on
one onnxruntime thread, blended with the fast heads it also runs) on batches of the same
posts, against the fast tier on the same batches, interleaved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.harness import Figure, Size, interleaved_chunks, rate_figure
from earful.demo.generate import generate

SIZES = {"quick": (300, 2), "default": (5_000, 5), "large": (20_000, 7)}
BATCH = 500
TARGET = 2_000
TIER2_BATCH = 100  # a second-tier batch takes ~0.5 s: parts short enough to interleave
TIER2_TARGET = 200


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
    figures = [
        rate_figure(
            "classify",
            "classify stage, all heads (vs VADER sentiment only)",
            pair,
            len(texts),
            target=f">= {TARGET:,} posts/s on one core",
            passed=lambda value, _base: value >= TARGET,
        )
    ]
    figures.extend(_second_tier(texts[: max(300, n // 5)], repeat))
    return figures


def _second_tier(texts: Sequence[str], repeat: int) -> list[Figure]:
    from earful.understanding.models import shipped
    from earful.understanding.tier2 import shipped_second_tier

    tier = shipped_second_tier()
    if tier is None:
        return []
    fast = shipped()
    batches = [texts[i : i + TIER2_BATCH] for i in range(0, len(texts), TIER2_BATCH)]
    pair = interleaved_chunks(
        lambda i: tier.classify(batches[i]),
        lambda i: fast.classify(batches[i]),
        chunks=len(batches),
        repeat=min(repeat, 3),
        warmup=1,
    )
    return [
        rate_figure(
            "classify",
            f"second tier {tier.version}, one core (vs the fast tier on the same batches)",
            pair,
            len(texts),
            target=f">= {TIER2_TARGET} posts/s on one core",
            passed=lambda value, _base: value >= TIER2_TARGET,
        )
    ]
