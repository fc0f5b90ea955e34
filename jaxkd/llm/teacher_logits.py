"""The teacher's logits computed once and kept as a file: per scored token its top-k ids and
log-probabilities and one exact tail bucket (:mod:`jaxkd.llm.topk`), so that any number of
students, replicates and runs distil from it without running the teacher again.

One pass of the teacher over the training pairs (:func:`write`) goes in chunks of sequences, so
its memory is that of one chunk's logits whatever the number of pairs, and writes each chunk's
scored positions as one safetensors shard: ``ids`` (S, k) (uint16 when the vocabulary fits,
else int32), ``logprobs`` (S, k) float32 and ``tail`` (S,) float32, S the chunk's scored tokens
in row-major order of the pairs' ``loss_mask[..., 1:]`` (position t predicts token t + 1).
``index.json`` names the shards and the file's content: k, the temperature, the vocabulary and
the digests of the teacher's parameters and of the pairs. The folder is written under a
temporary name and renamed when complete, so a killed pass leaves no file that could be read.

:func:`load` reads a folder back for given pairs and refuses (one sentence) pairs other than
those it was computed on; :func:`cached` reuses ``<folder>/<digest>`` when its content digest
(teacher, pairs, k, temperature) matches and writes it otherwise; :func:`compute` is the same
pass in memory. A :class:`TeacherLogits` holds the dense arrays the engine gathers batches from,
(..., L − 1, k) on the pairs' leading axes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import memory
from jaxkd.llm import topk
from jaxkd.llm.budget import training_bytes, num_params
from jaxkd.llm.families import check_model
from jaxkd.llm.pairs import Pairs

FORMAT = "jaxkd-teacher-logits"
VERSION = 1
INDEX = "index.json"


@dataclasses.dataclass(frozen=True)
class TeacherLogits:
    """The truncated teacher on every position of some pairs.

    Attributes:
      ids: (..., L − 1, k) int32 the teacher's top-k tokens at each position (the pairs'
        leading axes: (M,) or (N, M)); where the next token is not scored, the uniform
        distribution's truncation (never read: those positions are masked out of every loss).
      logprobs: (..., L − 1, k) float32 their log-probabilities at ``temperature``.
      tail: (..., L − 1) float32 the log of the teacher's mass on every other token (−inf at
        k = V).
      k, temperature, vocab_size: what was kept, at which temperature, of which vocabulary.
      teacher, pairs: the digests of the teacher's parameters and of the pairs.
      positions: the number of scored tokens.
    """

    ids: np.ndarray
    logprobs: np.ndarray
    tail: np.ndarray
    k: int
    temperature: float
    vocab_size: int
    teacher: str
    pairs: str
    positions: int

    @property
    def bytes_per_token(self) -> int:
        """File bytes per scored token (ids, log-probabilities and the tail)."""
        return self.k * (_ids_dtype(self.vocab_size).itemsize + 4) + 4

    @property
    def full_bytes_per_token(self) -> int:
        """Bytes per scored token of the full float32 distribution, for comparison."""
        return 4 * self.vocab_size

    def students(self, pairs: Pairs, lo: int, hi: int) -> "TeacherLogits":
        """Students lo..hi−1's rows of a file computed on per-student ``pairs`` (N, M, L) (the
        whole file for shared pairs), filed under the digest of their own pairs."""
        if pairs_digest(pairs) != self.pairs:
            raise ValueError("the teacher-logits file was computed on other pairs; compute it on the pairs being "
                             "distilled.")
        if not pairs.per_student:
            return self
        rows = Pairs(pairs.tokens[lo:hi], pairs.mask[lo:hi], pairs.loss_mask[lo:hi])
        keep = int((np.asarray(rows.loss_mask)[..., 1:] > 0).sum())
        return dataclasses.replace(self, ids=self.ids[lo:hi], logprobs=self.logprobs[lo:hi], tail=self.tail[lo:hi],
                                   pairs=pairs_digest(rows), positions=keep)

    def check(self, pairs: Pairs, *, k: int, temperature: float, vocab_size: int) -> None:
        """Refuse (``ValueError``, one sentence) unless this file is the teacher's top ``k`` at
        ``temperature`` over ``vocab_size`` tokens on exactly ``pairs``."""
        if pairs_digest(pairs) != self.pairs:
            raise ValueError(f"the teacher-logits file was computed on other pairs (digest {self.pairs[:12]}, these "
                             f"pairs {pairs_digest(pairs)[:12]}); compute it on the pairs being distilled.")
        if vocab_size != self.vocab_size:
            raise ValueError(f"the teacher-logits file is over a vocabulary of {self.vocab_size} tokens but the student "
                             f"has {vocab_size}; token-level losses need the same tokenizer.")
        if k != self.k:
            raise ValueError(f"the teacher-logits file keeps the top {self.k} tokens but the loss asks for top_k={k}; "
                             f"compute the file at k={k} or set the loss's top_k to {self.k}.")
        if not np.isclose(temperature, self.temperature, rtol=1e-12, atol=0.0):
            raise ValueError(f"the teacher-logits file holds the teacher at temperature {self.temperature:g} but the "
                             f"loss compares at {temperature:g} (teacher_temperature x temperature); compute the file "
                             f"at {temperature:g}.")


def _ids_dtype(vocab_size: int):
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.int32)


def pairs_digest(pairs: Pairs) -> str:
    """SHA-256 of the pairs' shapes and token, mask and loss-mask arrays."""
    h = hashlib.sha256()
    for a in (pairs.tokens, pairs.mask, pairs.loss_mask):
        a = np.ascontiguousarray(a, np.int32)
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def teacher_digest(teacher) -> str:
    """SHA-256 of the teacher's class, configuration and parameters (in tree order)."""
    h = hashlib.sha256(f"{type(teacher).__name__}:{teacher.config!r}".encode())
    for leaf in jax.tree.leaves(nnx.state(teacher, nnx.Param)):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(repr((a.shape, str(a.dtype))).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def content_digest(teacher_hash: str, pairs_hash: str, k: int, temperature: float) -> str:
    """The digest a cached file is filed under: teacher, pairs, k and temperature."""
    return hashlib.sha256(json.dumps([FORMAT, VERSION, teacher_hash, pairs_hash, int(k), float(temperature)])
                          .encode()).hexdigest()


def _check_args(teacher, pairs: Pairs, k: int, temperature: float) -> None:
    check_model(teacher, "teacher")
    if not isinstance(pairs, Pairs):
        raise ValueError(f"pairs must be jaxkd.llm.pairs.Pairs, got {type(pairs).__name__}.")
    v.check_int("k", k)
    if k > teacher.config.vocab_size:
        raise ValueError(f"k={k} exceeds the teacher's vocabulary of {teacher.config.vocab_size} tokens.")
    v.check_positive("temperature", temperature)
    if pairs.tokens.shape[-1] > teacher.config.n_positions:
        raise ValueError(f"pairs of {pairs.tokens.shape[-1]} tokens exceed the teacher's "
                         f"{teacher.config.n_positions} positions.")


def sequences_per_call(teacher, length: int) -> int:
    """How many sequences of ``length`` tokens one teacher pass holds in memory (at most 64):
    the forward pass's activations and its logits, beside the teacher's parameters."""
    per = max(training_bytes(teacher, 1, 1, length) - 24 * num_params(teacher), 1)
    fit = int((memory.FRACTION * memory.available_bytes() - 4 * num_params(teacher)) // per)
    if fit < 1:
        raise ValueError(f"one teacher pass over a sequence of {length} tokens needs about {memory.human(per)}, but "
                         f"this machine has {memory.human(memory.available_bytes())} available; use shorter pairs.")
    return min(fit, 64)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _truncated(graphdef, params, tokens, mask, k, temperature):
    logits = nnx.merge(graphdef, params)(tokens, attention_mask=mask)[:, :-1]
    return topk.truncate(logits, k, temperature)


def _chunks(teacher, pairs: Pairs, k: int, temperature: float, chunk: int | None,
            progress: Callable[[int, int], None] | None):
    """The pass: per chunk of sequences, the (ids, logprobs, tail) of its scored positions."""
    L = pairs.tokens.shape[-1]
    tokens, mask, scored = (np.asarray(a, np.int32).reshape(-1, L) for a in (pairs.tokens, pairs.mask, pairs.loss_mask))
    chunk = chunk or sequences_per_call(teacher, L)
    graphdef, params = nnx.split(teacher, nnx.Param)
    total = tokens.shape[0]
    for lo in range(0, total, chunk):
        hi = min(lo + chunk, total)
        rows = np.arange(lo, hi)
        pad = chunk - (hi - lo)  # one compiled shape: the last chunk padded with its own first row
        rows = np.concatenate([rows, np.full(pad, lo)]) if pad else rows
        ids, lp, tail = _truncated(graphdef, params, jnp.asarray(tokens[rows]), jnp.asarray(mask[rows]), k,
                                   float(temperature))
        keep = scored[lo:hi, 1:] > 0
        yield np.asarray(ids)[: hi - lo][keep], np.asarray(lp)[: hi - lo][keep], np.asarray(tail)[: hi - lo][keep]
        if progress is not None:
            progress(hi, total)


def _dense(pairs: Pairs, ids, logprobs, tail, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scored positions (S, k) back onto the pairs' positions: (..., L − 1, k). Unscored
    positions (masked out of every loss) hold the uniform distribution's truncation, a valid
    target, so that no loss term there is infinite."""
    keep = np.asarray(pairs.loss_mask)[..., 1:] > 0
    if int(keep.sum()) != ids.shape[0]:
        raise ValueError(f"the teacher-logits file holds {ids.shape[0]} scored tokens but the pairs score "
                         f"{int(keep.sum())}; it was computed on other pairs.")
    k = ids.shape[-1]
    out_ids = np.broadcast_to(np.arange(k, dtype=np.int32), (*keep.shape, k)).copy()
    out_lp = np.full((*keep.shape, k), -np.log(vocab_size), np.float32)
    out_tail = np.full(keep.shape, np.log((vocab_size - k) / vocab_size) if k < vocab_size else -np.inf, np.float32)
    out_ids[keep], out_lp[keep], out_tail[keep] = ids, logprobs, tail
    return out_ids, out_lp, out_tail


def compute(teacher, pairs: Pairs, k: int, *, temperature: float = 1.0, chunk: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> TeacherLogits:
    """The teacher's top ``k`` (and tail) at ``temperature`` on every scored token of ``pairs``,
    in memory (:func:`write` for the file). ``chunk``: sequences per teacher call (default from
    the memory estimate)."""
    _check_args(teacher, pairs, k, temperature)
    parts = list(_chunks(teacher, pairs, k, temperature, chunk, progress))
    ids, lp, tail = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return TeacherLogits(*_dense(pairs, ids, lp, tail, teacher.config.vocab_size), k=k, temperature=float(temperature),
                         vocab_size=teacher.config.vocab_size, teacher=teacher_digest(teacher),
                         pairs=pairs_digest(pairs), positions=int(ids.shape[0]))


def write(teacher, pairs: Pairs, folder, k: int, *, temperature: float = 1.0, chunk: int | None = None,
          progress: Callable[[int, int], None] | None = None) -> Path:
    """One pass of the teacher over ``pairs`` written to ``folder`` (which must not exist): a
    safetensors shard per chunk of sequences and ``index.json``; the folder appears only when
    complete. Returns ``folder``."""
    _check_args(teacher, pairs, k, temperature)
    return _write(teacher, pairs, Path(folder), k, temperature, chunk, progress, teacher_digest(teacher),
                  pairs_digest(pairs))


def _write(teacher, pairs, folder: Path, k, temperature, chunk, progress, t_hash: str, p_hash: str) -> Path:
    from safetensors.numpy import save_file

    if folder.exists():
        raise ValueError(f"{folder} exists; the teacher-logits file is written to a new folder.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        dtype = _ids_dtype(teacher.config.vocab_size)
        shards, positions = [], 0
        for i, (ids, lp, tail) in enumerate(_chunks(teacher, pairs, k, temperature, chunk, progress)):
            name = f"shard-{i:05d}.safetensors"
            save_file({"ids": ids.astype(dtype), "logprobs": lp.astype(np.float32), "tail": tail.astype(np.float32)},
                      str(tmp / name))
            shards.append({"file": name, "positions": int(ids.shape[0])})
            positions += int(ids.shape[0])
        index = {"format": FORMAT, "version": VERSION, "k": int(k), "temperature": float(temperature),
                 "vocab_size": int(teacher.config.vocab_size), "teacher": t_hash, "pairs": p_hash,
                 "digest": content_digest(t_hash, p_hash, k, temperature), "pairs_shape": list(pairs.tokens.shape),
                 "positions": positions, "ids_dtype": dtype.name, "shards": shards}
        (tmp / INDEX).write_text(json.dumps(index, indent=1) + "\n")
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_index(folder) -> dict:
    """``index.json`` of a teacher-logits folder, or ``ValueError`` naming what is wrong."""
    path = Path(folder) / INDEX
    if not path.is_file():
        raise ValueError(f"{folder} is not a teacher-logits file: it has no {INDEX}.")
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg}).") from None
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise ValueError(f"{folder} is not a version-{VERSION} jaxkd teacher-logits file.")
    return index


def load(folder, pairs: Pairs) -> TeacherLogits:
    """A teacher-logits folder read back onto ``pairs``; ``ValueError`` when it was computed on
    other pairs or is incomplete."""
    from safetensors.numpy import load_file

    index = read_index(folder)
    if index["pairs"] != pairs_digest(pairs):
        raise ValueError(f"the teacher-logits file {folder} was computed on other pairs (digest "
                         f"{index['pairs'][:12]}, these pairs {pairs_digest(pairs)[:12]}); compute it on the pairs "
                         "being distilled.")
    parts = []
    for shard in index["shards"]:
        path = Path(folder) / shard["file"]
        if not path.is_file():
            raise ValueError(f"the teacher-logits file {folder} is missing its shard {shard['file']}.")
        parts.append(load_file(str(path)))
    ids, lp, tail = (np.concatenate([p[f] for p in parts]) for f in ("ids", "logprobs", "tail"))
    return TeacherLogits(*_dense(pairs, ids.astype(np.int32), lp, tail, index["vocab_size"]), k=index["k"],
                         temperature=index["temperature"], vocab_size=index["vocab_size"], teacher=index["teacher"],
                         pairs=index["pairs"], positions=index["positions"])


def cached(teacher, pairs: Pairs, k: int, folder, *, temperature: float = 1.0, chunk: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> TeacherLogits:
    """The file of (teacher, pairs, k, temperature) under ``folder``/<content digest>: read when
    it is there, written first when not."""
    _check_args(teacher, pairs, k, temperature)
    t_hash, p_hash = teacher_digest(teacher), pairs_digest(pairs)
    path = Path(folder) / content_digest(t_hash, p_hash, k, temperature)
    if not (path / INDEX).is_file():
        try:
            _write(teacher, pairs, path, k, temperature, chunk, progress, t_hash, p_hash)
        except (OSError, ValueError):  # another process completed the same file first: read theirs
            if not (path / INDEX).is_file():
                raise
    return load(path, pairs)


def file_bytes(folder) -> int:
    """Bytes on disk of a teacher-logits folder (shards and index)."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def mean_tail_mass(file: TeacherLogits, pairs: Pairs) -> float:
    """The teacher's mean mass outside its top k over the scored tokens of ``pairs``."""
    keep = np.asarray(pairs.loss_mask)[..., 1:] > 0
    return float(np.exp(np.asarray(file.tail, np.float64))[keep].mean())
