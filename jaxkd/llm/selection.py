"""Distillation targets from k teacher samples per prompt (study Section 7.3).

Given the embeddings of k sampled teacher answers per prompt, (P, k, E) with unit-norm rows:

* ``single``: the first sample (standard distillation, k = 1);
* ``multi``: all k samples (k training pairs per prompt);
* ``averaging``: the sample closest (cosine) to the mean embedding;
* ``variance-weighting``: the teacher's mean embedding and the student's own pre-distillation
  mean embedding combined with inverse-variance weights (docs/theorems.md 7.3, via
  :func:`jaxkd.targets.combine`; each variance is the variance *of the mean*: the mean
  per-dimension unbiased sample variance divided by the number of samples), then the teacher
  sample closest to the combination (jaxkd's variant);
* ``variance-weighting-study``: the same combination with the variances as the study's scripts
  compute them: the mean per-dimension sample variance with ddof 0, not divided by the number
  of samples (so the side with more samples gets no credit for them).

Token-level soft targets are a training loss (``distill.distill(..., loss=Loss("forward_kl"))``), not a
choice among samples; they are listed in ``METHODS`` so experiments treat them alike.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxkd import targets

METHODS = ("single", "multi", "averaging", "variance-weighting", "variance-weighting-study", "soft")


def _check(embs, name="teacher embeddings") -> np.ndarray:
    embs = np.asarray(embs)
    if embs.ndim != 3 or embs.shape[1] < 1:
        raise ValueError(f"{name} must be (prompts, samples, dim) with at least one sample, got {embs.shape}.")
    return embs


def closest(embs, target) -> np.ndarray:
    """Index of the sample with the highest cosine to ``target``: (P, k, E), (P, E) -> (P,)."""
    embs, target = np.asarray(embs), np.asarray(target)
    target = target / np.maximum(np.linalg.norm(target, axis=-1, keepdims=True), 1e-12)
    return np.argmax(np.einsum("pke,pe->pk", embs, target), axis=1)


def mean_and_variance(embs, *, study: bool = False):
    """Mean embedding (P, E) and a variance per prompt, (P,): jaxkd's is the variance of the
    mean (mean over dimensions of the unbiased per-dimension sample variance, divided by the
    number of samples); ``study=True`` gives the study's (ddof 0, not divided)."""
    embs = _check(embs)
    k = embs.shape[1]
    if study:
        return embs.mean(axis=1), embs.var(axis=1, ddof=0).mean(axis=-1)
    var = embs.var(axis=1, ddof=1).mean(axis=-1) / k if k > 1 else np.zeros(embs.shape[0])
    return embs.mean(axis=1), var


def averaging(teacher_embs) -> np.ndarray:
    """Per prompt, the teacher sample closest to the mean of the k samples: (P,)."""
    teacher_embs = _check(teacher_embs)
    return closest(teacher_embs, teacher_embs.mean(axis=1))


def variance_weighting(teacher_embs, student_embs, *, study: bool = False):
    """Per prompt, the teacher sample closest to the inverse-variance combination of teacher
    and student mean embeddings.

    Args:
      teacher_embs: (P, k, E), k >= 2 (the variance needs replicates).
      student_embs: the pre-distillation student's samples, (P, ks, E), ks >= 2.
      study: the study's variances instead of jaxkd's (:func:`mean_and_variance`).

    Returns:
      ``(index (P,), teacher_weight (P,))``.
    """
    teacher_embs, student_embs = _check(teacher_embs), _check(student_embs, "student embeddings")
    if teacher_embs.shape[1] < 2 or student_embs.shape[1] < 2:
        raise ValueError("variance-weighting needs at least 2 teacher and 2 student samples per prompt.")
    if teacher_embs.shape[0] != student_embs.shape[0]:
        raise ValueError("teacher and student embeddings must cover the same prompts.")
    m_t, v_t = mean_and_variance(teacher_embs, study=study)
    m_s, v_s = mean_and_variance(student_embs, study=study)
    v_t, v_s = np.maximum(v_t, 1e-12), np.maximum(v_s, 1e-12)  # identical samples: equal footing
    z = np.asarray(targets.combine(jnp.asarray(m_t), jnp.asarray(v_t)[:, None],
                                   jnp.asarray(m_s), jnp.asarray(v_s)[:, None]))
    a_t, _ = targets.inverse_variance_weights(v_t, v_s)
    return closest(teacher_embs, z), np.asarray(a_t)


def select(method: str, teacher_texts, teacher_embs=None, student_embs=None) -> list[tuple[int, str]]:
    """Training pairs (prompt index, answer text) for ``method``.

    Args:
      method: one of ``METHODS``.
      teacher_texts: k sampled answers per prompt, a list of P lists.
      teacher_embs: their embeddings (P, k, E) (averaging, variance-weighting).
      student_embs: the pre-distillation student's sample embeddings (variance-weighting).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if not teacher_texts or any(len(t) == 0 for t in teacher_texts):
        raise ValueError("every prompt needs at least one teacher sample.")
    if method in ("single", "soft"):
        return [(p, t[0]) for p, t in enumerate(teacher_texts)]
    if method == "multi":
        return [(p, s) for p, t in enumerate(teacher_texts) for s in t]
    if teacher_embs is None:
        raise ValueError(f"{method} needs the teacher samples' embeddings.")
    if method == "averaging":
        idx = averaging(teacher_embs)
    else:
        if student_embs is None:
            raise ValueError("variance-weighting needs the student's pre-distillation sample embeddings.")
        idx, _ = variance_weighting(teacher_embs, student_embs, study=method == "variance-weighting-study")
    return [(p, teacher_texts[p][i]) for p, i in enumerate(idx)]
