"""The second tier's encoder: fine-tuned MiniLM, int8 ONNX, run with onnxruntime.

No torch and no pickle at run time: the model is an ONNX graph, the tokenizer a JSON file,
and each is checked against the sha256 its manifest records before it is opened. One
intra-op thread (the pipeline runs beside other work on a few cores); texts are sorted by
length and batched, so a batch pads to its longest text, not to the longest of all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earful.understanding.features import prepare

# Small batches of length-sorted texts: less padding, and one batch's activations stay in
# cache. Measured on one core (300 real customer posts, both readers): 16 reads 244 posts/s,
# 64 reads 211, 128 fewer still.
BATCH = 16


class ArtifactError(Exception):
    """A model file is missing or is not the file its manifest names (sha256)."""


def verified(path: Path, sha256: str) -> bytes:
    """The file's bytes, once they hash to ``sha256``."""
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ArtifactError(f"{path.name}: sha256 {got[:12]}… is not the manifest's {sha256[:12]}…")
    return data


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(slots=True)
class Encoded:
    """Per text: the sentiment probabilities (in ``classes`` order) and the pooled embedding."""

    proba: np.ndarray  # float64 (n, k)
    pooled: np.ndarray  # float32 (n, hidden)


class Encoder:
    """The exported classifier: ``input_ids, attention_mask -> logits, pooled``."""

    def __init__(self, directory: Path, entry: dict[str, Any]) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = verified(directory / entry["file"], entry["sha256"])
        vocab = verified(directory / entry["tokenizer"], entry["tokenizer_sha256"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # the quantized graph's notices are not ours to act on
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_str(vocab.decode("utf-8"))
        self.tokenizer.enable_truncation(int(entry["max_len"]))
        self.tokenizer.no_padding()
        self.classes: tuple[str, ...] = tuple(entry["classes"])

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Read the texts (normalized as in training) in length-sorted batches."""
        # One text at a time: encode_batch would fan out over every core.
        ids = [self.tokenizer.encode(prepare(t)).ids for t in texts]
        n = len(ids)
        logits: np.ndarray | None = None
        pooled: np.ndarray | None = None
        order = sorted(range(n), key=lambda i: len(ids[i]))
        for start in range(0, n, BATCH):
            rows = order[start : start + BATCH]
            width = max(len(ids[i]) for i in rows)
            batch = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                batch[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            out_logits, out_pooled = self.session.run(
                ["logits", "pooled"], {"input_ids": batch, "attention_mask": mask}
            )
            if logits is None or pooled is None:
                logits = np.zeros((n, out_logits.shape[1]), dtype=np.float64)
                pooled = np.zeros((n, out_pooled.shape[1]), dtype=np.float32)
            logits[rows] = out_logits
            pooled[rows] = out_pooled
        if logits is None or pooled is None:
            return Encoded(np.zeros((0, len(self.classes))), np.zeros((0, 0), np.float32))
        return Encoded(softmax(logits), pooled)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(slots=True)
class EmbeddingHead:
    """Logistic regression over the pooled embedding (complaint, urgency).

    Stored as a ``.npz`` of plain arrays (``coef`` (hidden, k), ``intercept`` (k,),
    ``classes``), loaded with ``allow_pickle=False``; a binary head keeps a zero column for
    its first class, so one softmax serves both kinds.
    """

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def load(cls, path: Path, sha256: str) -> EmbeddingHead:
        import io

        with np.load(io.BytesIO(verified(path, sha256)), allow_pickle=False) as z:
            return cls(
                classes=tuple(str(c) for c in z["classes"]),
                coef=z["coef"].astype(np.float32),
                intercept=z["intercept"].astype(np.float32),
            )

    def save(self, path: Path) -> None:
        np.savez(
            path,
            classes=np.array(self.classes),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
        )

    def proba(self, pooled: np.ndarray) -> np.ndarray:
        return softmax(pooled.astype(np.float64) @ self.coef + self.intercept)
