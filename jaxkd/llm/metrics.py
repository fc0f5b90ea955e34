"""Text-level uncertainty metrics on sentence embeddings (study Sections 4.3, 6.2, 7.3).

Conventions: embeddings are unit-norm; a model's samples for P prompts are (P, n, E); N
students' samples are (N, P, n, E).
"""

from __future__ import annotations

import functools
from itertools import combinations

import numpy as np
from scipy.stats import linregress, multinomial


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


def valid_answer_entropy(labels, num_answers: int) -> float:
    """Entropy (nats) of the empirical distribution of the sampled answers that express a valid
    answer (labels >= 0) over the K valid answers, hallucinations left out; NaN when none is
    valid. Beside :func:`answer_entropy`, which lumps every hallucination into one bucket (so a
    model that hallucinates half the time can show the entropy of a fair coin)."""
    labels = np.asarray(labels)
    valid = labels[labels >= 0]
    if valid.size == 0:
        return float("nan")
    p = np.bincount(valid, minlength=num_answers)
    p = p[p > 0] / valid.size
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


# --- S.3: the plug-in floors of the exact measures, and the estimates corrected for them ------


def _entropy(x) -> np.ndarray:
    """Entropy (nats) of distributions on the last axis, 0 log 0 = 0: (..., K) -> (...)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0), axis=-1)


def _compositions(n: int, k: int) -> np.ndarray:
    """Every way to put n draws in k cells: (C(n + k - 1, k - 1), k) counts."""
    out = []
    for bars in combinations(range(n + k - 1), k - 1):
        edges = (-1, *bars, n + k - 1)
        out.append([edges[i + 1] - edges[i] - 1 for i in range(k)])
    return np.asarray(out, int)


@functools.lru_cache(maxsize=4096)
def _floors(p: tuple[float, ...], n: int) -> tuple[float, float]:
    p_arr = np.asarray(p, float)
    counts = _compositions(n, len(p))
    prob = multinomial.pmf(counts, n, p_arr)
    q = counts / n
    tv = 0.5 * np.abs(q - p_arr).sum(axis=1)
    return float(prob @ tv), float(prob @ _entropy(q))


def plugin_floors(p, n: int) -> dict[str, float]:
    """What the plug-in exact measures (S.2) give for a model that *is* the truth, seen through
    n samples (**S.3**): the expected total variation ``E[TV(p̂_n, p)]`` (> 0 although the model
    is perfect) and the expected plug-in entropy bias ``E[H(p̂_n)] − H(p)`` (< 0), exactly, by
    enumerating the multinomial outcomes of n draws from ``p`` (K valid answers).

    Args:
      p: the true answer distribution, (K,).
      n: samples behind a model's empirical distribution (>= 1).
    """
    p = np.asarray(p, float)
    if n < 1:
        raise ValueError(f"a floor needs at least one sample, got n = {n}.")
    keep = p[p > 0]
    tv, h = _floors(tuple(np.round(keep, 15).tolist()), int(n))
    return {"total_variation": tv, "entropy_bias": h - float(_entropy(keep))}


def corrected_measures(labels, p, n_floor: int | None = None) -> dict[str, float]:
    """A model's answer distribution against the truth with the plug-in floors removed (**S.3**),
    its hallucination share, and the same measures on its valid answers alone.

    Args:
      labels: the model's n classified samples (:func:`classify`: answer index, -1 hallucination).
      p: the true distribution over the K valid answers, (K,).
      n_floor: samples the floors assume (default: the number of labels).

    Returns:
      ``hallucination`` (share of samples), ``tv_excess`` = TV(q̂, p) − E[TV(p̂_n, p)] (0 in
      expectation for a perfect model), ``entropy_gap`` = H(q̂) − E[H(p̂_n)] (the gap to the truth
      with the plug-in bias removed; 0 in expectation for a perfect model), and on the valid
      answers alone (q̂ renormalised over the K answers, floors at the number of valid samples):
      ``valid_tv_excess`` and ``valid_entropy_gap`` (NaN when no sample is valid).
    """
    labels = np.asarray(labels)
    p = np.asarray(p, float)
    K, n = len(p), len(labels) if n_floor is None else n_floor
    q = answer_distribution(labels, K)
    floors = plugin_floors(p, n)
    tv = 0.5 * float(np.sum(np.abs(q - np.append(p, 0.0))))
    out = {"hallucination": float(q[K]), "tv_excess": tv - floors["total_variation"],
           "entropy_gap": float(_entropy(q)) - float(_entropy(p)) - floors["entropy_bias"]}
    valid = labels[labels >= 0]
    if valid.size:
        qv = np.bincount(valid, minlength=K) / valid.size
        fv = plugin_floors(p, valid.size)
        out["valid_tv_excess"] = 0.5 * float(np.sum(np.abs(qv - p))) - fv["total_variation"]
        out["valid_entropy_gap"] = float(_entropy(qv)) - float(_entropy(p)) - fv["entropy_bias"]
    else:
        out["valid_tv_excess"] = out["valid_entropy_gap"] = float("nan")
    return out


def true_noise(p, paraphrase_embs) -> float:
    """The study's per-prompt noise (mean pairwise cosine distance of sampled answers) expected of
    the true answer distribution (**S.4**): two independent answers drawn from ``p``, each written
    in one of its paraphrases uniformly: ``Σ_ab p_a p_b mean_ij (1 − e_ai · e_bj)``.

    Args:
      p: the true distribution over K answers, (K,).
      paraphrase_embs: per answer, its paraphrases' unit embeddings, a list of K (n_a, E) arrays.
    """
    p = np.asarray(p, float)
    means = np.stack([np.asarray(e, float).mean(axis=0) for e in paraphrase_embs])   # (K, E)
    return float(1.0 - p @ (means @ means.T) @ p)
