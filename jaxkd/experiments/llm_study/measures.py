"""The measures of the llm-* experiments, one value per replicate.

Per replicate :func:`measure` gives the floor-corrected between-student variance (S.1), measures
without a sampling floor (disagreement of greedy answers; spread across students of the
teacher-forced log-probability of every valid answer), the exact distribution measures (S.2) and
the study's embedding measures. :class:`SweepResults` is the typed results of a sweep of them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd.data import qa_concepts
from jaxkd.experiments import common
from jaxkd.experiments.llm_study.replicates import Outputs, TeacherReference
from jaxkd.experiments.llm_study.setup import Task
from jaxkd.experiments.llm_study.stats import mean_interval
from jaxkd.llm import distill
from jaxkd.llm import metrics as tm


def embed(task: Task, texts) -> np.ndarray:
    """Embeddings of nested lists of strings, shaped like the nesting plus (384,)."""
    return distill.embed_texts(task.embedder, texts)


def warm_embeddings(task: Task, *nested) -> None:
    """Embed every text of several nested lists in one call, so the embedder runs one set of
    fixed-shape passes per token length instead of one per list (the values are the same: an
    embedding does not depend on the texts batched with it)."""
    flat = [t for n in nested for t in np.asarray(n, dtype=object).ravel().tolist()]
    if flat:
        task.embedder.encode([t if t else "(empty)" for t in flat])


MEASURES = ("alignment", "greedy_disagreement", "logprob_spread", "inter_student_variance",
            "inter_student_variance_floor", "inter_student_variance_corrected", "intra_variance_gap",
            "teacher_noise", "student_noise", "noise_slope", "noise_r2", "variance_share",
            "total_variation", "teacher_total_variation", "entropy_gap", "teacher_entropy_gap",
            "centroid_cosine", "teacher_centroid_cosine", "student_entropy", "teacher_entropy",
            "narrower_share", "gt_similarity", "teacher_gt_similarity", "hallucination", "teacher_hallucination")

def _labels(task: Task, embs) -> list[np.ndarray]:
    return [tm.classify(embs[p], task.centroids[p], qa_concepts.HALLUCINATION_THRESHOLD) for p in range(embs.shape[0])]


def describe(task: Task, embs) -> dict:
    """One model's samples (P, n, E): per prompt noise, hallucination share, answer entropy,
    cosine to the nearest valid answer, and the exact measures against the truth (S.2)."""
    P = embs.shape[0]
    labels = _labels(task, embs)
    exact = [tm.distribution_measures(tm.answer_distribution(l, len(task.centroids[p])),
                                      task.corpus.items[p].probs, task.centroids[p]) for p, l in enumerate(labels)]
    return {
        "noise": tm.pairwise_cosine_distance(embs),
        "variance": tm.intra_model_variance(embs),
        "hallucination": np.array([np.mean(l < 0) for l in labels]),
        "entropy": np.array([tm.answer_entropy(l, len(task.centroids[p])) for p, l in enumerate(labels)]),
        "gt_similarity": np.array([tm.ground_truth_similarity(embs[p], task.centroids[p]) for p in range(P)]),
        **{k: np.array([e[k] for e in exact]) for k in ("total_variation", "entropy_gap", "centroid_cosine")},
    }


def measure(task: Task, out: Outputs, teacher: TeacherReference, temperature: float = 1.0,
            direct: Outputs | None = None) -> dict:
    """Every measure of :data:`MEASURES`, one value per replicate (lists of R), for the outputs
    of R x N students (:class:`Outputs`, student j in replicate j // N) against the teacher's
    (:class:`TeacherReference`); with ``direct`` (:func:`replicates.direct_reference`) also
    ``systematic_noise``: the students' per-prompt noise minus that of the direct fine-tune's
    students of the same replicate, averaged.
    Per-prompt noise of teacher and students (mean over replicates) comes back as
    ``prompt_teacher_noise`` / ``prompt_student_noise``, and the students' training curve (the
    loss at every step, mean and standard deviation across students) as ``loss_curve`` /
    ``loss_band``."""
    cfg = task.cfg
    R, N = cfg.replicates, cfg.num_students
    warm_embeddings(task, out.samples.at(temperature), out.greedy, teacher.greedy, teacher.samples,
                    direct.samples.at(1.0) if direct is not None else [])
    samples = embed(task, out.samples.at(temperature))                        # (R*N, P, n, E)
    greedy = embed(task, out.greedy)                                          # (R*N, P, E)
    t_greedy = embed(task, teacher.greedy)                                    # (P, E)
    t_samples = embed(task, teacher.samples)                                  # (P, nt, E)
    logprob = np.asarray(out.logprob, float)                                  # (R*N, A)
    t = describe(task, t_samples)
    per = [describe(task, e) for e in samples]
    d_noise = None
    if direct is not None:  # per student of the direct fine-tune, paired with replicate r's students
        d_noise = [describe(task, e)["noise"] for e in embed(task, direct.samples.at(1.0))]
    rows = {name: [] for name in MEASURES + (("systematic_noise",) if direct is not None else ())}
    s_noise_all = []
    for r in range(R):
        group = range(r * N, (r + 1) * N)
        base = distill.measure(samples[r * N:(r + 1) * N], t_samples)
        s_noise = np.mean([per[j]["noise"] for j in group], axis=0)
        s_var = np.mean([per[j]["variance"] for j in group], axis=0)
        s_noise_all.append(s_noise)
        mean = lambda k: float(np.mean([per[j][k].mean() for j in group]))  # noqa: E731
        values = {
            **{k: base[k] for k in ("inter_student_variance", "inter_student_variance_floor",
                                    "inter_student_variance_corrected", "intra_variance_gap",
                                    "teacher_noise", "student_noise", "noise_slope", "noise_r2")},
            "alignment": float(np.einsum("npe,pe->np", greedy[r * N:(r + 1) * N], t_greedy).mean()),
            "greedy_disagreement": greedy_disagreement(out.greedy[r * N:(r + 1) * N], greedy[r * N:(r + 1) * N]),
            "logprob_spread": float(np.var(logprob[r * N:(r + 1) * N], axis=0, ddof=1).mean()),
            "variance_share": float(np.mean(t["variance"] >= s_var)),
            "total_variation": mean("total_variation"), "teacher_total_variation": float(t["total_variation"].mean()),
            "entropy_gap": mean("entropy_gap"), "teacher_entropy_gap": float(t["entropy_gap"].mean()),
            "centroid_cosine": mean("centroid_cosine"), "teacher_centroid_cosine": float(t["centroid_cosine"].mean()),
            "student_entropy": mean("entropy"), "teacher_entropy": float(t["entropy"].mean()),
            "narrower_share": tm.narrower_share(np.mean([per[j]["entropy"] for j in group], axis=0), t["entropy"]),
            "gt_similarity": mean("gt_similarity"), "teacher_gt_similarity": float(t["gt_similarity"].mean()),
            "hallucination": mean("hallucination"), "teacher_hallucination": float(t["hallucination"].mean()),
        }
        if d_noise is not None:
            values["systematic_noise"] = tm.systematic_noise(s_noise, np.mean([d_noise[j] for j in group], axis=0))
        for k in rows:
            rows[k].append(float(values[k]))
    rows["prompt_teacher_noise"] = t["noise"].tolist()
    losses = np.asarray(out.losses, float)                                    # (R*N, steps)
    rows["loss_curve"] = losses.mean(axis=0).tolist()
    rows["loss_band"] = losses.std(axis=0).tolist()
    rows["prompt_student_noise"] = np.mean(s_noise_all, axis=0).tolist()
    return rows


def greedy_disagreement(texts, embs) -> float:
    """Mean over prompts of the mean pairwise cosine distance between N students' greedy
    answers; identical answers count exactly 0 (no float rounding), so identical students give
    0: texts N x P strings, embs (N, P, E)."""
    N, P = len(texts), len(texts[0])
    total = 0.0
    for i in range(N):
        for j in range(i + 1, N):
            cos = np.einsum("pe,pe->p", embs[i], embs[j])
            same = np.array([texts[i][p] == texts[j][p] for p in range(P)])
            total += float(np.where(same, 0.0, 1.0 - cos).mean())
    return total / (N * (N - 1) / 2)


@dataclasses.dataclass(frozen=True)
class SweepResults(common.Results):
    """Results of an llm-* sweep: every measure of :data:`MEASURES` per grid point and
    replicate (grid points x R), and per-prompt noise per grid point (grid points x P)."""

    alignment: tuple[tuple[float, ...], ...]
    greedy_disagreement: tuple[tuple[float, ...], ...]
    logprob_spread: tuple[tuple[float, ...], ...]
    inter_student_variance: tuple[tuple[float, ...], ...]
    inter_student_variance_floor: tuple[tuple[float, ...], ...]
    inter_student_variance_corrected: tuple[tuple[float, ...], ...]
    intra_variance_gap: tuple[tuple[float, ...], ...]
    teacher_noise: tuple[tuple[float, ...], ...]
    student_noise: tuple[tuple[float, ...], ...]
    noise_slope: tuple[tuple[float, ...], ...]
    noise_r2: tuple[tuple[float, ...], ...]
    variance_share: tuple[tuple[float, ...], ...]
    total_variation: tuple[tuple[float, ...], ...]
    teacher_total_variation: tuple[tuple[float, ...], ...]
    entropy_gap: tuple[tuple[float, ...], ...]
    teacher_entropy_gap: tuple[tuple[float, ...], ...]
    centroid_cosine: tuple[tuple[float, ...], ...]
    teacher_centroid_cosine: tuple[tuple[float, ...], ...]
    student_entropy: tuple[tuple[float, ...], ...]
    teacher_entropy: tuple[tuple[float, ...], ...]
    narrower_share: tuple[tuple[float, ...], ...]
    gt_similarity: tuple[tuple[float, ...], ...]
    teacher_gt_similarity: tuple[tuple[float, ...], ...]
    hallucination: tuple[tuple[float, ...], ...]
    teacher_hallucination: tuple[tuple[float, ...], ...]
    prompt_teacher_noise: tuple[tuple[float, ...], ...]
    prompt_student_noise: tuple[tuple[float, ...], ...]
    passes: tuple[float, ...]          # passes over each student's distillation set, per point
    steps: tuple[int, ...]             # optimisation steps per point
    loss_curve: tuple[tuple[float, ...], ...]   # per point: the training loss at every step, mean over students
    loss_band: tuple[tuple[float, ...], ...]    # per point: its standard deviation across students

    def means(self, name: str) -> np.ndarray:
        """Replicate means of a measure per grid point."""
        return np.array([np.mean(r) for r in getattr(self, name)])

    def intervals(self, name: str) -> np.ndarray:
        """(grid points, 3): mean, low, high of a measure's 95% interval."""
        return np.array([mean_interval(r) for r in getattr(self, name)])
