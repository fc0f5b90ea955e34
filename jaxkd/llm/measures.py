"""The distillation's measures: embeddings of sampled responses (:func:`embed_texts`), the
uncertainty numbers of N students against their teacher (:func:`measure`, a :class:`Measures`
record), the students' teacher-forced log-probabilities of given answers
(:func:`student_logprobs`), the calibration of their next-token distributions
(:func:`next_token_ece`) and their mass outside a teacher's top k (:func:`mass_outside`).

Shapes: N students, P prompts, n (n_t) responses per prompt per student (teacher), E the
embedding width, M scored pairs of L tokens.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import uncertainty
from jaxkd.llm import metrics as tm
from jaxkd.llm import sampling, topk
from jaxkd.llm.budget import num_params, students_per_chunk
from jaxkd.llm.pairs import Pairs
from jaxkd.llm.training import Students


@dataclasses.dataclass(frozen=True)
class Measures:
    """The uncertainty numbers of N students' sampled responses against the teacher's
    (:func:`measure`). Every field is a Python float, a scalar over the N students and P prompts.

    Attributes:
      alignment: cosine of a student's and the teacher's mean embedding per prompt, averaged
        over prompts and students.
      inter_student_variance: the between-student variance of the students' mean embeddings
        (uncorrected), averaged over prompts.
      inter_student_variance_floor: its sampling floor (the part n samples per student add).
      inter_student_variance_corrected: the floor-corrected variance (S.1).
      intra_variance_gap: the students' within-model variance minus the teacher's.
      teacher_noise, student_noise: mean pairwise cosine distance of the teacher's (the
        students', averaged over students) responses to a prompt, averaged over prompts.
      noise_slope, noise_intercept, noise_r2: the noise transfer line, the least-squares line of
        student noise on teacher noise across the P prompts, and its R².

    ``to_dict()`` gives ``{field: value}``; ``m["name"]`` and ``**m`` read a field by name, for
    callers that handled the measures as a dict.
    """

    alignment: float
    inter_student_variance: float
    inter_student_variance_floor: float
    inter_student_variance_corrected: float
    intra_variance_gap: float
    teacher_noise: float
    student_noise: float
    noise_slope: float
    noise_intercept: float
    noise_r2: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    def keys(self):
        return self.to_dict().keys()

    def __getitem__(self, name: str) -> float:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)


def embed_texts(embedder, texts) -> np.ndarray:
    """Embeddings of nested lists of strings (P x k, or N x P x n), shaped like the nesting plus
    (E,). ``embedder`` has ``encode(list[str]) -> (n, E)`` (e.g.
    :class:`jaxkd.llm.embeddings.Embedder`); an empty response is embedded as "(empty)"."""
    arr = np.asarray(texts, dtype=object)
    flat = embedder.encode([t if t else "(empty)" for t in arr.ravel().tolist()])
    return flat.reshape(*arr.shape, flat.shape[-1])


@functools.partial(jax.jit, static_argnums=0)
def _logprobs(graphdef, states, tokens, mask, target):
    return jax.vmap(lambda s: sampling.sequence_logprob_core(graphdef, s, tokens, mask, target))(states)


def student_logprobs(students: Students, pairs: Pairs) -> np.ndarray:
    """Teacher-forced log-probability of each pair's scored (answer) tokens under each student,
    per scored token: (N, M) for pairs (M, L). Deterministic: no sampling floor."""
    if pairs.per_student:
        raise ValueError("student_logprobs scores one set of pairs (M, L) under every student.")
    tokens, mask = jnp.asarray(pairs.tokens, jnp.int32), jnp.asarray(pairs.mask, jnp.int32)
    target = jnp.asarray(pairs.loss_mask, jnp.float32)
    one = students.model(0)
    N = students.num_students
    chunk = students_per_chunk(4 * num_params(one) + 12 * tokens.size * one.config.vocab_size // max(len(tokens), 1),
                               N, what="scoring pairs under a student")
    total = np.concatenate([np.asarray(_logprobs(students.graphdef, students.state(lo, lo + chunk), tokens, mask, target))
                            for lo in range(0, N, chunk)])
    return total / np.maximum(np.asarray(pairs.loss_mask[:, 1:].sum(axis=1)), 1)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _next_token(graphdef, states, tokens, mask, ids, per_student: bool):
    """Every student's next-token summaries at once (students vmapped): the largest
    log-probability, its token, and the log of the mass outside ``ids``, each (N, M, L − 1)."""
    from flax import nnx

    def one(params, t, m, i):
        log_q = jax.nn.log_softmax(nnx.merge(graphdef, params)(t, attention_mask=m)[:, :-1], axis=-1)
        return log_q.max(-1), log_q.argmax(-1), topk.student_cells(log_q, i)[..., -1]

    axis = 0 if per_student else None
    return jax.vmap(one, in_axes=(0, axis, axis, axis))(states, tokens, mask, ids)


def _summaries(students: Students, pairs: Pairs, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_next_token` over the students in chunks that fit in memory (host arrays)."""
    tokens, mask = jnp.asarray(pairs.tokens, jnp.int32), jnp.asarray(pairs.mask, jnp.int32)
    one = students.model(0)
    N, per_token = students.num_students, 12 * one.config.vocab_size
    chunk = students_per_chunk(4 * num_params(one) + per_token * int(np.prod(pairs.tokens.shape[-2:])), N,
                               what="scoring next tokens under a student")
    parts = [_next_token(students.graphdef, students.state(lo, lo + chunk),
                         *((a[lo:lo + chunk] for a in (tokens, mask, ids)) if pairs.per_student else (tokens, mask, ids)),
                         pairs.per_student) for lo in range(0, N, chunk)]
    return tuple(np.concatenate([np.asarray(p[i], np.float64 if i != 1 else np.int64) for p in parts]) for i in range(3))


def next_token_ece(students: Students, pairs: Pairs, weights, *, bins: int = 10) -> np.ndarray:
    """Expected calibration error of each student's next-token distribution on the scored tokens
    of ``pairs`` (M, L), pair m weighted by ``weights[m]`` (e.g. its answer's true probability,
    so the accuracy in a bin estimates the truth's probability of the predicted token): the
    confidence is the largest next-token probability, correct when that token is the pair's next
    one; ``sum_b w_b |accuracy_b − confidence_b| / sum_b w_b`` over ``bins`` equal-width bins of
    confidence. Returns (N,)."""
    if pairs.per_student:
        raise ValueError("next_token_ece scores one set of pairs (M, L) under every student.")
    w = np.asarray(weights, float)[:, None] * (np.asarray(pairs.loss_mask)[:, 1:] > 0)     # (M, L - 1)
    top, token, _ = _summaries(students, pairs, jnp.zeros((*pairs.tokens.shape[:-1], pairs.tokens.shape[-1] - 1, 1),
                                                          jnp.int32))
    conf, right = np.exp(top), (token == np.asarray(pairs.tokens)[:, 1:]).astype(float)       # (N, M, L - 1)
    N = conf.shape[0]
    cell = np.minimum((conf * bins).astype(int), bins - 1) + bins * np.arange(N)[:, None, None]  # one bin set a student
    ww = np.broadcast_to(w, conf.shape)

    def per_bin(x):
        return np.bincount(cell.ravel(), (ww * x).ravel(), N * bins).reshape(N, bins)

    return np.abs(per_bin(right) - per_bin(conf)).sum(1) / ww.sum(axis=(1, 2))


def mass_outside(students: Students, pairs: Pairs, ids) -> np.ndarray:
    """Each student's mean next-token mass outside the tokens ``ids`` (the teacher's top k) over
    the scored positions of its pairs: pairs (M, L) or (N, M, L), ids (..., L − 1, k) on the
    same leading axes -> (N,)."""
    keep = np.broadcast_to(np.asarray(pairs.loss_mask)[..., 1:] > 0, (students.num_students,
                                                                      *pairs.tokens.shape[-2:-1],
                                                                      pairs.tokens.shape[-1] - 1))
    _, _, tail = _summaries(students, pairs, jnp.asarray(ids, jnp.int32))                     # (N, M, L - 1)
    return np.where(keep, np.exp(tail), 0.0).sum(axis=(1, 2)) / keep.sum(axis=(1, 2))


def measure(student_embs, teacher_embs) -> Measures:
    """The uncertainty numbers of N students' sampled responses against the teacher's.

    Args:
      student_embs: (N, P, n, E) unit-norm embeddings of n responses per prompt per student.
      teacher_embs: (P, n_t, E) the teacher's.

    Returns:
      :class:`Measures`: alignment, the between-student variance with its sampling floor and
      floor-corrected (S.1), the within-model variance gap, teacher and student noise and the
      noise transfer line.
    """
    s, t = np.asarray(student_embs), np.asarray(teacher_embs)
    if s.ndim != 4 or t.ndim != 3 or s.shape[1] != t.shape[0] or s.shape[-1] != t.shape[-1]:
        raise ValueError(f"expected student (N, P, n, E) and teacher (P, n, E) embeddings, got {s.shape} and {t.shape}.")
    between = uncertainty.between_student_variance(np.swapaxes(s, 1, 2))  # (N, n, P, E)
    s_noise = tm.pairwise_cosine_distance(s).mean(axis=0)
    t_noise = tm.pairwise_cosine_distance(t)
    line = tm.noise_transfer(s_noise, t_noise)
    return Measures(
        alignment=float(np.mean([tm.alignment(e, t) for e in s])),
        inter_student_variance=float(between["uncorrected"]),
        inter_student_variance_floor=float(between["floor"]),
        inter_student_variance_corrected=float(between["corrected"]),
        intra_variance_gap=float(np.mean([tm.intra_model_variance(e) for e in s]) - np.mean(tm.intra_model_variance(t))),
        teacher_noise=float(t_noise.mean()), student_noise=float(s_noise.mean()),
        noise_slope=line["slope"], noise_intercept=line["intercept"], noise_r2=line["r2"],
    )
