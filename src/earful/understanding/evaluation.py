"""Scores for the classifiers: macro recall, macro F1, accuracy and the confusion matrix."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def read_tsv(path: Path) -> list[dict[str, str]]:
    """A TSV with a header row, quoting off (many tweets start with a quote)."""
    csv.field_size_limit(10_000_000)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        return [dict(zip(header, row, strict=False)) for row in reader if row]


@dataclass(slots=True)
class Scores:
    labels: list[str]
    macro_recall: float
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    n: int
    posts_per_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "macro_recall": round(self.macro_recall, 4),
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "posts_per_s": round(self.posts_per_s, 1),
            "n": self.n,
            "labels": self.labels,
            "confusion": self.confusion,
        }
        doc.update({k: round(v, 4) for k, v in self.extra.items()})
        return doc


def score(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = ()) -> Scores:
    """Macro averages over the true labels (a predicted label never seen in truth is an error)."""
    names = list(labels) or sorted(set(truth))
    names += sorted({p for p in predicted if p not in names})
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    present = [i for i, name in enumerate(names) if name in set(truth)]
    recalls, f1s = [], []
    for i in present:
        tp = matrix[i, i]
        support = matrix[i].sum()
        predicted_i = matrix[:, i].sum()
        recall = tp / support if support else 0.0
        precision = tp / predicted_i if predicted_i else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    n = len(truth)
    return Scores(
        labels=names,
        macro_recall=float(np.mean(recalls)) if recalls else 0.0,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        accuracy=float(np.trace(matrix) / n) if n else 0.0,
        confusion=matrix.tolist(),
        n=n,
    )


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return 0.0
    return float(spearmanr(a, b).statistic)


def timed(fn: Callable[[list[str]], list[str]], texts: list[str]) -> tuple[list[str], float]:
    t0 = time.perf_counter()
    out = fn(texts)
    elapsed = time.perf_counter() - t0
    return out, (len(texts) / elapsed if elapsed > 0 else 0.0)


# ------------------------------------------------------------------ VADER baseline


def vader_sentiment(texts: Sequence[str]) -> list[str]:
    """The usual lexicon tool with its documented thresholds (±0.05 on compound)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for text in texts:
        c = analyzer.polarity_scores(text[:1000])["compound"]
        out.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
    return out


def vader_urgency(texts: Sequence[str]) -> list[int]:
    """A simple baseline for severity: the more negative VADER finds it, the more severe."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for text in texts:
        c = analyzer.polarity_scores(text[:1000])["compound"]
        out.append(0 if c > -0.05 else 1 if c > -0.3 else 2 if c > -0.5 else 3 if c > -0.75 else 4)
    return out
