"""Text-level uncertainty metrics on sentence embeddings (study Sections 4.3, 6.2, 7.3).

Conventions: embeddings are unit-norm; a model's samples for P prompts are (P, n, E); N
students' samples are (N, P, n, E).
"""

from __future__ import annotations

import numpy as np


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def pairwise_cosine_distance(embs) -> np.ndarray:
    """Per-prompt noise: mean pairwise cosine distance among n >= 2 samples. (..., n, E) -> (...)."""
    embs = np.asarray(embs)
    n = embs.shape[-2]
    if n < 2:
        raise ValueError("per-prompt noise needs at least two samples per prompt.")
    sims = np.einsum("...ie,...je->...ij", embs, embs)
    off = (np.sum(sims, axis=(-1, -2)) - np.trace(sims, axis1=-2, axis2=-1)) / (n * (n - 1))
    return 1.0 - off


def alignment(student_embs, teacher_embs) -> np.ndarray:
    """Cosine between the student's and the teacher's mean embeddings per prompt: (P,)."""
    return np.sum(_unit(np.mean(student_embs, axis=-2)) * _unit(np.mean(teacher_embs, axis=-2)), axis=-1)


def inter_student_variance(embs) -> float:
    """Variance across N students of their mean embeddings (unbiased, per dimension), averaged
    over dimensions and prompts. embs: (N, P, n, E)."""
    means = np.mean(np.asarray(embs), axis=2)  # (N, P, E)
    return float(np.mean(np.var(means, axis=0, ddof=1)))


def intra_model_variance(embs) -> np.ndarray:
    """Per-dimension variance of one model's samples, averaged over dimensions: (P, n, E) -> (P,)."""
    return np.mean(np.var(np.asarray(embs), axis=-2, ddof=1), axis=-1)


def noise_transfer(student_noise, teacher_noise) -> dict[str, float]:
    """Least-squares line of student noise on teacher noise across prompts (scipy's linregress)."""
    from scipy.stats import linregress

    fit = linregress(np.asarray(teacher_noise, float), np.asarray(student_noise, float))
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "r2": float(fit.rvalue**2)}


def systematic_noise(student_noise, direct_noise) -> float:
    """Mean over prompts of student noise minus a directly fine-tuned model's noise."""
    return float(np.mean(np.asarray(student_noise) - np.asarray(direct_noise)))


def classify(sample_embs, centroids, threshold: float) -> np.ndarray:
    """Which valid answer each sample expresses: index of the nearest answer centroid, or -1
    (a hallucination) when its cosine is below ``threshold``. (n, E), (K, E) -> (n,)."""
    sims = np.asarray(sample_embs) @ np.asarray(centroids).T
    best = np.argmax(sims, axis=1)
    return np.where(sims[np.arange(len(best)), best] >= threshold, best, -1)


def ground_truth_similarity(sample_embs, centroids) -> float:
    """Mean over samples of the cosine to the nearest valid answer. (n, E), (K, E) -> ()."""
    return float(np.mean(np.max(np.asarray(sample_embs) @ np.asarray(centroids).T, axis=1)))


def answer_entropy(labels, num_answers: int) -> float:
    """Entropy (nats) of the empirical distribution of sampled answers over the K valid answers
    plus one bucket for hallucinations (label -1)."""
    labels = np.asarray(labels)
    counts = np.bincount(np.where(labels < 0, num_answers, labels), minlength=num_answers + 1)
    p = counts[counts > 0] / counts.sum()
    return float(0.0 - np.sum(p * np.log(p)))


def narrower_share(student_entropy, teacher_entropy) -> float:
    """Share of prompts where the student's answer distribution has lower entropy than the
    teacher's (the suppression effect, docs/theorems.md C.1; the study's Table 2)."""
    return float(np.mean(np.asarray(student_entropy) < np.asarray(teacher_entropy)))


def answer_distribution(labels, num_answers: int) -> np.ndarray:
    """Empirical distribution of classified answers over the K valid answers plus a last bucket
    for hallucinations (label -1): (n,) ints -> (K + 1,)."""
    labels = np.asarray(labels)
    counts = np.bincount(np.where(labels < 0, num_answers, labels), minlength=num_answers + 1)
    return counts / max(int(counts.sum()), 1)


def distribution_measures(q, p, centroids) -> dict[str, float]:
    """Exact comparison of a model's answer distribution with the true one (**S.2**).

    Args:
      q: the model's answer distribution over K valid answers + hallucination, (K + 1,)
        (:func:`answer_distribution`).
      p: the true answer distribution over the K valid answers, (K,) (no hallucination mass).
      centroids: unit answer-centroid embeddings, (K, E).

    Returns:
      ``total_variation`` = ½ Σ |q_a − p_a| (the hallucination bucket counts against q),
      ``entropy_gap`` = H(q) − H(p) in nats (negative: narrower than the truth), and
      ``centroid_cosine``: cosine of Σ_a q_a c_a (valid answers only) to Σ_a p_a c_a; it is 1
      only when the model weights the answers as the truth does, unlike the cosine to the
      nearest valid answer, which collapse onto any one answer also maximises.
    """
    q, p = np.asarray(q, float), np.asarray(p, float)
    K = p.shape[0]
    if q.shape != (K + 1,):
        raise ValueError(f"q must have K + 1 = {K + 1} entries (valid answers, then hallucination); got {q.shape}.")
    p_full = np.append(p, 0.0)

    def H(x):
        x = x[x > 0]
        return float(0.0 - np.sum(x * np.log(x)))

    c = np.asarray(centroids, float)
    model, truth = q[:K] @ c, p @ c
    norm = np.linalg.norm(model) * np.linalg.norm(truth)
    return {"total_variation": float(0.5 * np.sum(np.abs(q - p_full))),
            "entropy_gap": H(q) - H(p),
            "centroid_cosine": float(model @ truth / norm) if norm > 0 else 0.0}
