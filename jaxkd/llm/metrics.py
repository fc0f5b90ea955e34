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
    teacher's (the suppression effect, THEOREMS.md C.1; the study's Table 2)."""
    return float(np.mean(np.asarray(student_entropy) < np.asarray(teacher_entropy)))
