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
from jaxkd.experiments import results as base
from jaxkd.experiments.llm_study.replicates import (
    Outputs,
    TeacherReference,
    direct_reference,
    teacher_reference,
)
from jaxkd.experiments.llm_study.setup import Task
from jaxkd.experiments.llm_study.stats import mean_interval
from jaxkd.llm import distill
from jaxkd.llm import metrics as tm
from jaxkd.students import ensemble


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
            "teacher_noise", "student_noise", "true_noise", "noise_slope", "noise_r2", "variance_share",
            "hallucination", "teacher_hallucination", "tv_excess", "teacher_tv_excess", "entropy_gap",
            "teacher_entropy_gap", "valid_tv_excess", "teacher_valid_tv_excess", "valid_entropy_gap",
            "teacher_valid_entropy_gap", "student_entropy", "teacher_entropy", "narrower_share", "centroid_cosine",
            "teacher_centroid_cosine", "gt_similarity", "teacher_gt_similarity", "systematic_noise",
            "teacher_systematic_noise", "valid_entropy", "teacher_valid_entropy", "teacher_sample_alignment",
            "target_hallucination", "train_loss", "answer_loss", "converged")

#: The fit record's plateau rule (a record only: nothing is stopped): the training loss's epoch
#: mean changed by less than 1e-3 (relative) over the last 5 epochs the students had trained.
PLATEAU = ensemble.Stopping(tol=1e-3, window=5)

#: Per-prompt values kept for every replicate (R x P), for the prompt bootstrap of a verdict.
PER_PROMPT = ("student_entropy", "teacher_entropy", "student_variance", "teacher_variance", "tv_excess",
              "teacher_tv_excess", "hallucination", "gt_similarity", "teacher_gt_similarity", "systematic_noise")


def _labels(task: Task, embs) -> list[np.ndarray]:
    return [tm.classify(embs[p], task.centroids[p], qa_concepts.HALLUCINATION_THRESHOLD) for p in range(embs.shape[0])]


def describe(task: Task, embs) -> dict:
    """One model's samples on the evaluation prompts (P, n, E), per prompt: noise, within-model
    variance, answer entropy (plug-in), cosine to the nearest valid answer, the centroid cosine
    (S.2), and the exact measures with their plug-in floors removed (S.3): hallucination share,
    excess total variation and entropy gap to the truth, on all samples and on the valid ones."""
    P = embs.shape[0]
    labels = _labels(task, embs)
    items = task.eval_corpus.items
    exact = [tm.distribution_measures(tm.answer_distribution(lab, len(task.centroids[p])), items[p].probs,
                                      task.centroids[p]) for p, lab in enumerate(labels)]
    corrected = [tm.corrected_measures(lab, items[p].probs) for p, lab in enumerate(labels)]
    return {
        "noise": tm.pairwise_cosine_distance(embs),
        "variance": tm.intra_model_variance(embs),
        "entropy": np.array([tm.answer_entropy(lab, len(task.centroids[p])) for p, lab in enumerate(labels)]),
        "valid_entropy": np.array([tm.valid_answer_entropy(lab, len(task.centroids[p])) for p, lab in enumerate(labels)]),
        "gt_similarity": np.array([tm.ground_truth_similarity(embs[p], task.centroids[p]) for p in range(P)]),
        "centroid_cosine": np.array([e["centroid_cosine"] for e in exact]),
        **{k: np.array([c[k] for c in corrected]) for k in corrected[0]},
    }


def _student_mean(values) -> np.ndarray:
    """Per prompt, the mean over students of a per-prompt measure, students where it is
    undefined (NaN: no valid answer) left out: N x (P,) -> (P,)."""
    x = np.asarray(values, float)
    counts = np.isfinite(x).sum(axis=0)
    return np.where(counts > 0, np.nansum(x, axis=0) / np.maximum(counts, 1), np.nan)


def _mean(x) -> float:
    x = np.asarray(x, float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def target_hallucination(task: Task, targets) -> np.ndarray:
    """The hallucination share of training targets, per student: ``targets`` one list of (prompt
    index, text) per student, or one list shared by all -> (len,) or (1,); each text classified
    against its question's valid answers as the students' samples are (the evaluation questions
    are the distillation questions, in order, whatever their phrasing). NaN where the evaluation
    questions are other questions (single-answer corpora hold some out)."""
    per_student = bool(targets) and isinstance(targets[0], list)
    groups = targets if per_student else [targets]
    if len(task.eval_corpus.items) != len(task.corpus.items):
        return np.full(len(groups), np.nan)
    texts = [t for g in groups for _, t in g]
    embs = embed(task, texts)                                                 # (all texts, E)
    prompt = np.array([p for g in groups for p, _ in g])
    junk = np.zeros(len(texts), bool)
    for p in np.unique(prompt):  # every text of one question against its valid answers at once
        at = np.flatnonzero(prompt == p)
        junk[at] = tm.classify(embs[at], task.centroids[p], qa_concepts.HALLUCINATION_THRESHOLD) < 0
    ends = np.cumsum([len(g) for g in groups])
    return np.array([float(part.mean()) for part in np.split(junk, ends[:-1])])


def measure(task: Task, out: Outputs, teacher: TeacherReference, temperature: float = 1.0,
            direct: Outputs | None = None, targets="samples") -> dict:
    """Every measure of :data:`MEASURES`, one value per replicate (lists of R), for the outputs
    of R x N students (:class:`Outputs`, student j in replicate j // N) against the teacher's
    own samples of the same replicate (:class:`TeacherReference`), all on the evaluation prompts
    with the same number of samples per model. Student measures are means over the replicate's
    students; ``systematic_noise`` is the students' per-prompt noise minus the true answer
    distribution's (S.4), and with ``direct`` (:func:`replicates.direct_reference`)
    ``direct_systematic_noise`` is the same for the directly fine-tuned students of the
    replicate, and ``direct_hallucination`` their hallucination share (the competence gate).

    ``targets`` says what the students were trained on, for ``target_hallucination`` (the
    per-row gate, :func:`row_gate`): ``"samples"`` (the teacher's distribution at its
    temperature, soft or sampled: its own samples' share, ``teacher``'s), or the training pairs
    themselves (one list of (prompt index, text) per student, or one shared list: their share,
    :func:`target_hallucination`).
    ``valid_entropy`` / ``teacher_valid_entropy`` are the answer entropies on the valid
    answers alone (``student_entropy`` lumps every hallucination into one bucket);
    ``teacher_sample_alignment`` is the cosine of the teacher's own samples to its greedy answer
    (the control of ``alignment``: how far the targets themselves are from the greedy answer).
    The fit of the students as measured (where training ended, or at a rung of the ladder):
    ``train_loss``, the mean training loss of their last epoch; ``answer_loss``, the per-token
    loss of every valid answer on the evaluation prompts (teacher-forced; held out from training
    where the evaluation is held out); ``converged``, the share whose training loss had reached
    the :data:`PLATEAU` rule.

    Also returned: ``per_prompt`` (the :data:`PER_PROMPT` values, R x P), per-prompt noise of
    teacher and students (replicate means) as ``prompt_teacher_noise`` / ``prompt_student_noise``,
    and the students' training curve (the loss at every step, mean and standard deviation across
    students) as ``loss_curve`` / ``loss_band``."""
    cfg = task.cfg
    R, N = cfg.replicates, cfg.num_students
    student_texts = out.samples.at(temperature)
    warm_embeddings(task, student_texts, out.greedy, teacher.greedy, teacher.samples,
                    direct.samples.at(1.0) if direct is not None else [])
    samples = embed(task, student_texts)                                      # (R*N, P, n, E)
    greedy = embed(task, out.greedy)                                          # (R*N, P, E)
    t_greedy = embed(task, teacher.greedy)                                    # (P, E)
    t_samples = embed(task, teacher.samples)                                  # (R, P, n, E)
    logprob = np.asarray(out.logprob, float)                                  # (R*N, A)
    if isinstance(targets, str):
        if targets != "samples":
            raise ValueError(f"targets must be 'samples' or the training pairs, not {targets!r}.")
        target_hall = None
    else:
        shares = target_hallucination(task, targets)
        target_hall = shares if len(shares) == R * N else np.full(R * N, shares[0])
    fit = fit_record(cfg, out)
    per = [describe(task, e) for e in samples]
    direct_per = None if direct is None else [describe(task, e) for e in embed(task, direct.samples.at(1.0))]
    extra = ("direct_systematic_noise", "direct_hallucination") if direct is not None else ()
    rows = {name: [] for name in MEASURES + extra}
    prompt = {name: [] for name in PER_PROMPT}
    s_noise_all, t_noise_all = [], []
    for r in range(R):
        group = range(r * N, (r + 1) * N)
        t = describe(task, t_samples[r])
        base = distill.measure(samples[r * N:(r + 1) * N], t_samples[r])
        s = {k: _student_mean([per[j][k] for j in group]) for k in per[0]}     # per prompt, over the students
        s_noise_all.append(s["noise"])
        t_noise_all.append(t["noise"])
        values = {
            **{k: base[k] for k in ("inter_student_variance", "inter_student_variance_floor",
                                    "inter_student_variance_corrected", "intra_variance_gap",
                                    "teacher_noise", "student_noise", "noise_slope", "noise_r2")},
            "true_noise": float(task.truth_noise.mean()),
            "alignment": float(np.einsum("npe,pe->np", greedy[r * N:(r + 1) * N], t_greedy).mean()),
            "greedy_disagreement": greedy_disagreement(out.greedy[r * N:(r + 1) * N], greedy[r * N:(r + 1) * N]),
            "logprob_spread": float(np.var(logprob[r * N:(r + 1) * N], axis=0, ddof=1).mean()),
            "variance_share": float(np.mean(t["variance"] >= s["variance"])),
            "student_entropy": _mean(s["entropy"]), "teacher_entropy": _mean(t["entropy"]),
            "narrower_share": tm.narrower_share(s["entropy"], t["entropy"]),
            "systematic_noise": _mean(s["noise"] - task.truth_noise),
            "teacher_systematic_noise": _mean(t["noise"] - task.truth_noise),
            "valid_entropy": _mean(s["valid_entropy"]), "teacher_valid_entropy": _mean(t["valid_entropy"]),
            "teacher_sample_alignment": float(np.einsum("pne,pe->pn", t_samples[r], t_greedy).mean()),
            "target_hallucination": (_mean(t["hallucination"]) if target_hall is None
                                     else _mean(target_hall[r * N:(r + 1) * N])),
            **{k: float(np.mean(v[r * N:(r + 1) * N])) for k, v in fit.items()},
        }
        for k in ("hallucination", "tv_excess", "entropy_gap", "valid_tv_excess", "valid_entropy_gap",
                  "centroid_cosine", "gt_similarity"):
            values[k] = _mean(s[k])
            values["teacher_" + k] = _mean(t[k])
        if direct_per is not None:
            d = {k: _student_mean([direct_per[j][k] for j in group]) for k in ("noise", "hallucination")}
            values["direct_systematic_noise"] = _mean(d["noise"] - task.truth_noise)
            values["direct_hallucination"] = _mean(d["hallucination"])
        for k in rows:
            rows[k].append(float(values[k]))
        for k, src in (("student_entropy", s["entropy"]), ("teacher_entropy", t["entropy"]),
                       ("student_variance", s["variance"]), ("teacher_variance", t["variance"]),
                       ("tv_excess", s["tv_excess"]), ("teacher_tv_excess", t["tv_excess"]),
                       ("hallucination", s["hallucination"]), ("gt_similarity", s["gt_similarity"]),
                       ("teacher_gt_similarity", t["gt_similarity"]),
                       ("systematic_noise", s["noise"] - task.truth_noise)):
            prompt[k].append(np.asarray(src, float).tolist())
    rows["per_prompt"] = prompt
    rows["prompt_teacher_noise"] = np.mean(t_noise_all, axis=0).tolist()
    rows["prompt_student_noise"] = np.mean(s_noise_all, axis=0).tolist()
    losses = np.asarray(out.losses, float)                                    # (R*N, steps)
    rows["loss_curve"] = losses.mean(axis=0).tolist()
    rows["loss_band"] = losses.std(axis=0).tolist()
    return rows


def fit_record(cfg, out: Outputs) -> dict[str, np.ndarray]:
    """Per student (R*N,): the last epoch's mean training loss, the per-token loss of every valid
    answer (``out.logprob``), and whether the training loss had reached :data:`PLATEAU` (1.0/0.0)."""
    losses = np.asarray(out.losses, float)                                    # (R*N, steps)
    per_epoch = cfg.steps(out.compute.pairs, 1)
    whole = losses.shape[1] // per_epoch
    epochs = losses[:, :whole * per_epoch].reshape(losses.shape[0], whole, per_epoch).mean(axis=2)
    plateau = (ensemble.convergence_at_end(PLATEAU, epochs).converged.astype(float) if whole
               else np.zeros(losses.shape[0]))  # not one whole epoch: no plateau to judge
    return {"train_loss": losses[:, -per_epoch:].mean(axis=1),
            "answer_loss": -np.asarray(out.logprob, float).mean(axis=1), "converged": plateau}


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
class SweepResults(base.Results):
    """Results of an llm-* sweep: every measure of :data:`MEASURES` per grid point and
    replicate (grid points x R), the :data:`PER_PROMPT` values per grid point (a dict of
    R x P), per-prompt noise per grid point (grid points x P), and the students' training
    curves."""

    alignment: tuple[tuple[float, ...], ...]
    greedy_disagreement: tuple[tuple[float, ...], ...]
    logprob_spread: tuple[tuple[float, ...], ...]
    inter_student_variance: tuple[tuple[float, ...], ...]
    inter_student_variance_floor: tuple[tuple[float, ...], ...]
    inter_student_variance_corrected: tuple[tuple[float, ...], ...]
    intra_variance_gap: tuple[tuple[float, ...], ...]
    teacher_noise: tuple[tuple[float, ...], ...]
    student_noise: tuple[tuple[float, ...], ...]
    true_noise: tuple[tuple[float, ...], ...]
    noise_slope: tuple[tuple[float, ...], ...]
    noise_r2: tuple[tuple[float, ...], ...]
    variance_share: tuple[tuple[float, ...], ...]
    hallucination: tuple[tuple[float, ...], ...]
    teacher_hallucination: tuple[tuple[float, ...], ...]
    tv_excess: tuple[tuple[float, ...], ...]
    teacher_tv_excess: tuple[tuple[float, ...], ...]
    entropy_gap: tuple[tuple[float, ...], ...]
    teacher_entropy_gap: tuple[tuple[float, ...], ...]
    valid_tv_excess: tuple[tuple[float, ...], ...]
    teacher_valid_tv_excess: tuple[tuple[float, ...], ...]
    valid_entropy_gap: tuple[tuple[float, ...], ...]
    teacher_valid_entropy_gap: tuple[tuple[float, ...], ...]
    student_entropy: tuple[tuple[float, ...], ...]
    teacher_entropy: tuple[tuple[float, ...], ...]
    narrower_share: tuple[tuple[float, ...], ...]
    centroid_cosine: tuple[tuple[float, ...], ...]
    teacher_centroid_cosine: tuple[tuple[float, ...], ...]
    gt_similarity: tuple[tuple[float, ...], ...]
    teacher_gt_similarity: tuple[tuple[float, ...], ...]
    systematic_noise: tuple[tuple[float, ...], ...]
    teacher_systematic_noise: tuple[tuple[float, ...], ...]
    valid_entropy: tuple[tuple[float, ...], ...]
    teacher_valid_entropy: tuple[tuple[float, ...], ...]
    teacher_sample_alignment: tuple[tuple[float, ...], ...]
    target_hallucination: tuple[tuple[float, ...], ...]
    train_loss: tuple[tuple[float, ...], ...]
    answer_loss: tuple[tuple[float, ...], ...]
    converged: tuple[tuple[float, ...], ...]
    per_prompt: tuple                  # per point: {name: R x P}
    prompt_teacher_noise: tuple[tuple[float, ...], ...]
    prompt_student_noise: tuple[tuple[float, ...], ...]
    passes: tuple[float, ...]          # passes over each student's distillation set, per point
    steps: tuple[int, ...]             # optimisation steps per point
    loss_curve: tuple[tuple[float, ...], ...]   # per point: the training loss at every step, mean over students
    loss_band: tuple[tuple[float, ...], ...]    # per point: its standard deviation across students
    regime_teacher_hallucination: tuple[float, ...]   # per replicate (:func:`regime`)
    regime_direct_hallucination: tuple[float, ...]
    single_answer: bool

    def means(self, name: str) -> np.ndarray:
        """Replicate means of a measure per grid point."""
        return np.array([np.mean(r) for r in getattr(self, name)])

    def intervals(self, name: str) -> np.ndarray:
        """(grid points, 3): mean, low, high of a measure's 95% interval."""
        return np.array([mean_interval(r) for r in getattr(self, name)])


#: The competence gate: at most this share of hallucinated answers for the teacher at
#: temperature 1 and for the directly fine-tuned students, else a verdict is "inconclusive (regime)".
GATE = 0.10


def regime(task: Task) -> dict:
    """The competence of the set-up, per replicate: the teacher's hallucination share at
    temperature 1 on the evaluation prompts, and that of the base students fine-tuned directly
    on the reference answers (both cached, shared by every llm-* experiment)."""
    cfg = task.cfg
    teacher = embed(task, teacher_reference(task, 1.0).samples)             # (R, P, n, E)
    direct = embed(task, direct_reference(task, final=True).samples.at(1.0))  # (R*N, P, n, E)
    N = cfg.num_students
    d = [describe(task, e)["hallucination"].mean() for e in direct]
    return {"regime_teacher_hallucination": [float(describe(task, e)["hallucination"].mean()) for e in teacher],
            "regime_direct_hallucination": [float(np.mean(d[r * N:(r + 1) * N])) for r in range(cfg.replicates)],
            "single_answer": task.single_answer}


#: The per-row gate: a row that decides a claim may hallucinate at most this much more (a share,
#: replicate means) than its own training targets do, else the claim is "inconclusive (regime)":
#: such students measure how much they have not learned, not what distillation passes on.
ROW_MARGIN = 0.10


def row_gate(res, rows) -> str | None:
    """Why the deciding rows of ``res`` cannot decide a claim (None when they can): any row
    (index into the grid; ``rows`` a list of indices) whose students' hallucination share
    exceeds their targets' (``target_hallucination``) by more than :data:`ROW_MARGIN`, on average
    over replicates. Single-answer corpora are ungated, as in :func:`gate`."""
    if res.single_answer:
        return None
    failed = []
    for i in dict.fromkeys(rows):
        h, t = float(np.mean(res.hallucination[i])), float(np.mean(res.target_hallucination[i]))
        if not np.isfinite(t) or h - t > ROW_MARGIN:
            failed.append(f"{row_name(res, i)} hallucinates {100 * h:.0f}% against its targets' "
                          + ("(not measured)" if not np.isfinite(t) else f"{100 * t:.0f}%"))
    return None if not failed else (f"per-row gate failed ({'; '.join(failed)}; at most {100 * ROW_MARGIN:.0f} "
                                    "points above its targets allowed): these students have not learned their targets")


def row_figures(res, rows) -> str:
    """The per-row gate's figures for the evidence: each deciding row's hallucination share
    against its targets' (replicate means)."""
    return "per-row gate: " + ", ".join(
        f"{row_name(res, i)} {100 * float(np.mean(res.hallucination[i])):.1f}% vs targets "
        f"{100 * float(np.mean(res.target_hallucination[i])):.1f}%" for i in dict.fromkeys(rows))


def row_name(res, i: int) -> str:
    """A grid point in words: its label, objective, target or scale, whichever the results have,
    with its teacher temperature where the grid has several and its budget where it has one."""
    name = next((fmt.format(getattr(res, field)[i]) for field, fmt in (
        ("label", "{}"), ("objective", "{}"), ("target", "{}"), ("scale", "s = {}")) if hasattr(res, field)), None)
    temps = getattr(res, "temperature", None)
    if temps is not None and (name is None or len(set(temps)) > 1):
        name = f"T = {temps[i]}" if name is None else f"{name} at T = {temps[i]}"
    if hasattr(res, "budget"):
        name = f"{name} ({res.budget[i]})"
    return name or f"row {i}"


def decide_gate(res, rows) -> str | None:
    """The set-up's gate (:func:`gate`) or else the deciding rows' (:func:`row_gate`)."""
    return gate(res) or row_gate(res, rows)


def gate(res) -> str | None:
    """Why ``res``'s regime cannot decide a claim (None when it can): the teacher at T = 1 or the
    direct fine-tune hallucinating more than :data:`GATE` on average over replicates. Single-answer
    corpora have no hallucination threshold that means anything (a long reference answer is rarely
    within cosine 0.75); their criteria read the cosine to the reference instead, ungated."""
    if res.single_answer:
        return None
    t, d = float(np.mean(res.regime_teacher_hallucination)), float(np.mean(res.regime_direct_hallucination))
    failed = [f"{who} hallucinates {100 * x:.0f}%" for who, x in (("the teacher at T = 1", t),
                                                                  ("the direct fine-tune", d)) if x > GATE]
    return None if not failed else (f"regime gate failed ({' and '.join(failed)}; at most {100 * GATE:.0f}% allowed): "
                                    "these students cannot show the effect either way")
