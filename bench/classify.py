"""`bench/run.py classify`: posts/s of the whole classify stage (every head, one core).

Subject: the shipped classifier (shared features + sentiment, complaint, urgency heads,
intent rule, language) on batches of demo posts. Baseline, in the same run: VADER alone,
the usual lexicon tool, which gives sentiment only.

Second figure, where the second tier is shipped: the second tier (the int8 transformer on
one onnxruntime thread, blended with the fast heads it also runs) on batches of the same
posts, against the fast tier on the same batches, interleaved; then the same on real
customer posts (the hand-labeled intent set's texts, repeated), which are longer than the
demo's (mean 20 tokens against 17) and so slower for a transformer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bench.harness import Figure, Size, interleaved_chunks, rate_figure
from earful.demo.generate import generate

SIZES = {"quick": (300, 2), "default": (5_000, 5), "large": (20_000, 7)}
BATCH = 500
TARGET = 2_000
TIER2_BATCH = 100  # a second-tier batch takes ~0.5 s: parts short enough to interleave
TIER2_TARGET = 200
CUSTOMER_POSTS = Path(__file__).parents[1] / "src/earful/understanding/data/intent.tsv"


def _texts(n: int) -> list[str]:
    texts: list[str] = []
    for post in generate(seed=11, posts=n):
        texts.append(str(post["text"]))
    return texts[:n]


def _customer_texts(n: int) -> list[str]:
    """Real customer posts (the intent set: tweets to brands and invented posts), repeated."""
    from earful.understanding.evaluation import read_tsv

    texts = [row["text"] for row in read_tsv(CUSTOMER_POSTS) if row.get("text")]
    return (texts * (n // len(texts) + 1))[:n]


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
    tier2_posts = max(300, n // 5)
    figures.extend(_second_tier("demo posts", texts[:tier2_posts], repeat))
    figures.extend(_second_tier("customer posts", _customer_texts(tier2_posts), repeat))
    return figures


def _second_tier(workload: str, texts: Sequence[str], repeat: int) -> list[Figure]:
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
            f"second tier {tier.version} on {workload}, one core"
            " (vs the fast tier on the same batches)",
            pair,
            len(texts),
            target=f">= {TIER2_TARGET} posts/s on one core",
            passed=lambda value, _base: value >= TIER2_TARGET,
        )
    ]
