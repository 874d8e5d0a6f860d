"""Reproducible training of the heads from ``../shared/data`` (fixed seeds, one core).

* sentiment: SemEval-2017 4A English training pool only (never TweetEval val/test);
  reported on TweetEval val.
* complaint: the complaints corpus; reported by stratified 10-fold cross-validation.
* urgency: the X-CI severity corpus (0-4), reported by 10-fold cross-validation against a
  VADER baseline. It never sees the complaints corpus (same tweets), and the complaint
  head's output is not one of its inputs.
* intent is a rule over the heads (see :func:`earful.understanding.models.intent_of`);
  its report uses the hand-labeled set in ``data/intent.tsv`` next to its guideline.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from earful.understanding import ARTIFACTS
from earful.understanding.evaluation import read_tsv, score, spearman, vader_urgency
from earful.understanding.features import N_HASH, Features, featurize
from earful.understanding.models import MANIFEST, LinearHead

SEED = 20240517
HEADS = ("sentiment", "complaint", "urgency")
SETTINGS: dict[str, dict[str, Any]] = {
    "sentiment": {"C": 0.5, "min_df": 2},
    "complaint": {"C": 4.0, "min_df": 2},
    "urgency": {"C": 1.0, "min_df": 2},
}
INTENT_SET = Path(__file__).parent / "data" / "intent.tsv"


def default_data_dir() -> Path:
    env = os.environ.get("EARFUL_TRAIN_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def load(task: str, data_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) of a task's training corpus."""
    root = data_dir or default_data_dir()
    if task == "sentiment":
        rows = read_tsv(root / "semeval2017-4a-train" / "train.tsv")
        return [r["text"] for r in rows], [r["label"] for r in rows]
    if task == "complaint":
        rows = read_tsv(root / "complaints" / "complaints.tsv")
        return [r["text"] for r in rows], [r["label"] for r in rows]
    if task == "urgency":
        rows = read_tsv(root / "severity" / "severity.tsv")
        return [r["text"] for r in rows], [r["severity"] for r in rows]
    if task == "sentiment-val":
        rows = read_tsv(root / "tweeteval-sentiment" / "val.tsv")
        return [r["text"] for r in rows], [r["label"] for r in rows]
    raise ValueError(f"unknown task {task!r}")


# ------------------------------------------------------------------ fitting


def _idf(counts: sp.csr_matrix, min_df: int) -> tuple[np.ndarray, np.ndarray]:
    df = np.bincount(counts.indices, minlength=N_HASH)
    cols = np.flatnonzero(df >= min_df).astype(np.int32)
    n = counts.shape[0]
    idf = (np.log((1.0 + n) / (1.0 + df[cols])) + 1.0).astype(np.float32)
    return cols, idf


def _weighted(counts: sp.csr_matrix, cols: np.ndarray, idf: np.ndarray) -> sp.csr_matrix:
    full = np.zeros(N_HASH, dtype=np.float32)
    full[cols] = idf
    m = sp.csr_matrix(counts @ sp.diags(full))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m)


def subset(feats: Features, rows: Sequence[int] | np.ndarray) -> Features:
    idx = np.asarray(rows)
    return Features(
        feats.words[idx], feats.chars[idx], feats.dense[idx], [feats.prepared[i] for i in idx]
    )


def design(feats: Features, head: LinearHead) -> sp.csr_matrix:
    return sp.csr_matrix(
        sp.hstack(
            [
                _weighted(feats.words, head.w_cols, head.w_idf),
                _weighted(feats.chars, head.c_cols, head.c_idf),
                sp.csr_matrix(feats.dense),
            ]
        )
    )


def fit_head(
    name: str, feats: Features, labels: Sequence[str], C: float = 1.0, min_df: int = 2
) -> LinearHead:
    """Class-balanced logistic regression on idf-weighted, unit-norm blocks (deterministic)."""
    from sklearn.linear_model import LogisticRegression

    w_cols, w_idf = _idf(feats.words, min_df)
    c_cols, c_idf = _idf(feats.chars, min_df)
    empty = np.zeros((0, 1), dtype=np.float32)
    head = LinearHead(
        name, (), w_cols, w_idf, empty, c_cols, c_idf, empty, empty, np.zeros(1, np.float32)
    )
    model = LogisticRegression(
        C=C, class_weight="balanced", max_iter=2000, tol=1e-4, random_state=SEED
    )
    model.fit(design(feats, head), np.asarray(labels))
    coef = model.coef_.T.astype(np.float32)  # (features, k); k == 1 when binary
    nw, nc = N_HASH, N_HASH
    head.classes = tuple(str(c) for c in model.classes_)
    head.w_coef = np.ascontiguousarray(coef[:nw][w_cols])
    head.c_coef = np.ascontiguousarray(coef[nw : nw + nc][c_cols])
    head.d_coef = np.ascontiguousarray(coef[nw + nc :])
    head.intercept = model.intercept_.astype(np.float32)
    return head


def predict(head: LinearHead, feats: Features) -> list[str]:
    proba = head.proba(feats)
    return [head.classes[i] for i in proba.argmax(axis=1)]


def folds(labels: Sequence[str], k: int = 10) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=SEED)
    return [test for _, test in splitter.split(np.zeros(len(labels)), np.asarray(labels))]


def cross_validate(
    name: str, feats: Features, labels: Sequence[str], k: int = 10, **settings: Any
) -> list[str]:
    """Out-of-fold predictions of a head (each fold fit on the other k-1)."""
    predicted = [""] * len(labels)
    everything = np.arange(len(labels))
    for test in folds(labels, k):
        train = np.setdiff1d(everything, test)
        head = fit_head(name, subset(feats, train), [labels[i] for i in train], **settings)
        for i, p in zip(test, predict(head, subset(feats, test)), strict=True):
            predicted[i] = p
    return predicted


# ------------------------------------------------------------------ the commands


def corrections(path: Path, task: str) -> list[tuple[str, str]]:
    """(text, label) rows of a task from ``earful train export-corrections`` JSON lines.

    Only English posts: the heads are English models. Intent corrections train the
    complaint head (complaint or not); urgency and sentiment train their own.
    """
    field = {"sentiment": "sentiment", "complaint": "intent", "urgency": "urgency"}[task]
    rows: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                text, label = str(doc["text"]), str(doc["label"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a correction line ({e})") from e
            if doc.get("field") != field or doc.get("language") not in (None, "en"):
                continue
            if task == "complaint":
                label = "complaint" if label == "complaint" else "not_complaint"
            rows.append((text, label))
    return rows


def _with(
    texts: list[str], labels: list[str], extra: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    return texts + [t for t, _ in extra], labels + [label for _, label in extra]


def train_sentiment(
    data_dir: Path | None = None, out: Path = ARTIFACTS, extra: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    texts, labels = _with(*load("sentiment", data_dir), extra)
    head = fit_head("sentiment", featurize(texts), labels, **SETTINGS["sentiment"])
    head.save(out / "sentiment.npz")
    val_texts, val_labels = load("sentiment-val", data_dir)
    s = score(val_labels, predict(head, featurize(val_texts)), ["negative", "neutral", "positive"])
    return {"train_n": len(texts), "corrections_n": len(extra), "tweeteval_val": s.as_json()}


def train_complaint(
    data_dir: Path | None = None,
    out: Path = ARTIFACTS,
    extra: Sequence[tuple[str, str]] = (),
    cv: bool = True,
) -> dict[str, Any]:
    texts, labels = _with(*load("complaint", data_dir), extra)
    feats = featurize(texts)
    report: dict[str, Any] = {"train_n": len(texts), "corrections_n": len(extra)}
    if cv:
        oof = cross_validate("complaint", feats, labels, **SETTINGS["complaint"])
        report["cv10"] = score(labels, oof, ["complaint", "not_complaint"]).as_json()
    fit_head("complaint", feats, labels, **SETTINGS["complaint"]).save(out / "complaint.npz")
    return report


def train_urgency(
    data_dir: Path | None = None,
    out: Path = ARTIFACTS,
    extra: Sequence[tuple[str, str]] = (),
    cv: bool = True,
) -> dict[str, Any]:
    texts, labels = _with(*load("urgency", data_dir), extra)
    feats = featurize(texts)
    report: dict[str, Any] = {"train_n": len(texts), "corrections_n": len(extra)}
    if cv:
        names = ["0", "1", "2", "3", "4"]
        oof = cross_validate("urgency", feats, labels, **SETTINGS["urgency"])
        s = score(labels, oof, names)
        s.extra["spearman"] = spearman([int(x) for x in labels], [int(x) for x in oof])
        report["cv10"] = s.as_json()
        base = [str(x) for x in vader_urgency(texts)]
        b = score(labels, base, names)
        b.extra["spearman"] = spearman([int(x) for x in labels], [int(x) for x in base])
        report["baseline_vader"] = b.as_json()
        majority = max(set(labels), key=labels.count)
        report["baseline_majority"] = score(labels, [majority] * len(labels), names).as_json()
    fit_head("urgency", feats, labels, **SETTINGS["urgency"]).save(out / "urgency.npz")
    return report


def train_intent(out: Path = ARTIFACTS) -> dict[str, Any]:
    """Intent has no weights of its own: report the rule on the hand-labeled set."""
    from earful.understanding.models import Understanding

    rows = read_tsv(INTENT_SET)
    texts = [r["text"] for r in rows]
    truth = [r["label"] for r in rows]
    got = [lab.intent or "" for lab in Understanding(out).classify(texts)]
    return {
        "hand_labeled": score(
            truth, got, ["complaint", "question", "compliment", "other"]
        ).as_json()
    }


def write_manifest(out: Path, reports: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for name in HEADS:  # the arrays, not the file bytes (zip entries carry timestamps)
        with np.load(out / f"{name}.npz", allow_pickle=False) as z:
            for key in sorted(z.files):
                digest.update(key.encode())
                digest.update(np.ascontiguousarray(z[key]).tobytes())
    version = f"u1-{digest.hexdigest()[:10]}"
    path = out / MANIFEST
    manifest: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    manifest["version"] = version
    manifest["files"] = {  # checked when the heads load
        f"{name}.npz": hashlib.sha256((out / f"{name}.npz").read_bytes()).hexdigest()
        for name in HEADS
    }
    manifest["seed"] = SEED
    manifest["settings"] = SETTINGS
    manifest.setdefault("reports", {}).update(reports)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return version


TRAINERS: dict[str, Callable[..., dict[str, Any]]] = {
    "sentiment": train_sentiment,
    "complaint": train_complaint,
    "urgency": train_urgency,
}


def train(
    task: str,
    data_dir: Path | None = None,
    out: Path = ARTIFACTS,
    with_corrections: Path | None = None,
) -> dict[str, Any]:
    """Train one head (or all), then refresh the manifest (its version hashes the heads).

    ``with_corrections``: agents' corrections (``earful train export-corrections``) are
    added to each head's training rows.
    """
    out.mkdir(parents=True, exist_ok=True)
    tasks = [*HEADS, "intent"] if task == "all" else [task]
    reports: dict[str, Any] = {}
    for name in tasks:
        if name == "intent":
            continue
        extra = corrections(with_corrections, name) if with_corrections else []
        reports[name] = TRAINERS[name](data_dir, out, extra)
    if all((out / f"{h}.npz").is_file() for h in HEADS):
        reports["version"] = write_manifest(out, {k: v for k, v in reports.items()})
        if "intent" in tasks and INTENT_SET.is_file():
            reports["intent"] = train_intent(out)
            write_manifest(out, {"intent": reports["intent"]})
    return reports
