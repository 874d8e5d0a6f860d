"""The second tier: the fine-tuned transformer's reading blended with the fast tier's.

The fast tier (linear heads, :mod:`.models`) labels every matched post in the pipeline. The
second tier relabels brand posts after the batch commits (see
:mod:`earful.pipeline.second_tier`): the transformer's sentiment probabilities, and
complaint and urgency from the severity reader (a second fine-tuned transformer: P(severity
> 0) and the five levels) or, where a manifest has none, from heads over the sentiment
reader's pooled embedding; each averaged with the fast head's probabilities by the weight
its manifest records (measured, see docs/understanding.md).
Language, the question cue and the "not scored" rule for other languages are the fast
tier's: the transformer is English-only too.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from earful.pipeline.schema import Labels
from earful.understanding import ARTIFACTS
from earful.understanding.features import as_text, featurize
from earful.understanding.models import Readings, Understanding, shipped
from earful.understanding.transformer import EmbeddingHead, Encoder

MANIFEST = "tier2.json"
log = logging.getLogger(__name__)


class SecondTier:
    """Labels texts like the fast tier does, from the blended probabilities.

    Only the manifest is read up front; the model loads (and is verified) on first use.
    """

    def __init__(self, directory: Path = ARTIFACTS, fast: Understanding | None = None) -> None:
        self.directory = directory
        self.manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
        self.version: str = self.manifest["version"]
        # The weight of the transformer's probabilities in each blend (1.0: it alone).
        self.blend: dict[str, float] = {
            k: float(v) for k, v in self.manifest.get("blend", {}).items()
        }
        # The complaints' share in the corpus where the manifest puts the fast complaint
        # head's probability back at it before the blend (see :func:`at_prior`).
        self.fast_prior: dict[str, float] = {
            k: float(v) for k, v in self.manifest.get("fast_prior", {}).items()
        }
        self.fast = fast or shipped()
        self._model: tuple[Encoder, dict[str, EmbeddingHead]] | None = None
        self._severity: Encoder | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[Encoder, dict[str, EmbeddingHead]]:
        with self._lock:
            if self._model is None:
                encoder = Encoder(self.directory, self.manifest["model"])
                if "severity" in self.manifest:
                    self._severity = Encoder(self.directory, self.manifest["severity"])
                heads = {
                    name: EmbeddingHead.load(self.directory / entry["file"], entry["sha256"])
                    for name, entry in self.manifest.get("heads", {}).items()
                }
                self.fast.load()
                self._model = (encoder, heads)
        return self._model

    def classify(self, texts: Sequence[str]) -> list[Labels]:
        """Labels for each text; text that is not a string reads as empty."""
        if not texts:
            return []
        clean = [as_text(t) for t in texts]
        return self.fast.labels_of(self.readings(clean), clean)

    def readings(self, texts: Sequence[str]) -> Readings:
        encoder, heads = self.load()
        feats = featurize(texts)
        fast = self.fast.readings(feats, texts)
        # No letter or digit (empty, emoji, only a URL): nothing for the transformer to read
        # (its vocabulary has no emoji); those rows keep the fast tier's reading.
        readable = np.array([any(c.isalnum() for c in p) for p in feats.prepared])
        read = encoder.encode(texts)
        sentiment = _reorder(read.proba, encoder.classes, fast.sentiment_classes)
        fast.sentiment = self._mix("sentiment", sentiment, fast.sentiment, readable)
        names = tuple(str(int(x)) for x in fast.levels)
        if self._severity is not None:
            severity = self._severity.encode(texts).proba
            levels = self._severity.classes
            complaint = 1.0 - severity[:, levels.index("0")]  # severity 0: not a complaint
            theirs = fast.complaint
            if "complaint" in self.fast_prior:
                theirs = at_prior(theirs, self.fast_prior["complaint"])
            mixed = self._mix("complaint", complaint, theirs, readable)
            fast.complaint = np.where(readable, mixed, fast.complaint)
            urgency = _reorder(severity, levels, names)
            fast.urgency = self._mix("urgency", urgency, fast.urgency, readable)
            return fast
        if "complaint" in heads:
            head = heads["complaint"]
            p = head.proba(read.pooled)[:, head.classes.index("complaint")]
            fast.complaint = self._mix("complaint", p, fast.complaint, readable)
        if "urgency" in heads:
            head = heads["urgency"]
            fast.urgency = self._mix(
                "urgency",
                _reorder(head.proba(read.pooled), head.classes, names),
                fast.urgency,
                readable,
            )
        return fast

    def _mix(
        self, name: str, mine: np.ndarray, theirs: np.ndarray, readable: np.ndarray
    ) -> np.ndarray:
        w = self.blend.get(name, 1.0) * readable
        if mine.ndim == 2:
            w = w[:, None]
        return np.asarray(w * mine + (1.0 - w) * theirs)


def at_prior(p: np.ndarray, prior: float) -> np.ndarray:
    """A probability from a head fit with balanced class weights (which reads as if the
    class were half of all posts), put back at the class's real share ``prior``.

    The fast complaint head is balanced, so alone it finds more complaints; the severity
    reader is not, and their plain average leans to "complaint" (measured: see
    docs/understanding.md)."""
    return np.asarray(p * prior / (p * prior + (1.0 - p) * (1.0 - prior)))


def _reorder(proba: np.ndarray, have: Sequence[str], want: Sequence[str]) -> np.ndarray:
    return proba[:, [list(have).index(c) for c in want]]


def present(directory: Path = ARTIFACTS) -> bool:
    return (directory / MANIFEST).is_file()


@cache
def shipped_second_tier() -> SecondTier | None:
    """The second tier in the package, or None (logged) when it is absent or broken."""
    if not present():
        return None
    try:
        tier = SecondTier()
        tier.load()
    except Exception as exc:  # a bad file must not stop ingest: the fast tier still labels
        log.warning("second tier unavailable: %s", exc)
        return None
    return tier
