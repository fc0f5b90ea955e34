"""The computation of llm-variance-aware: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import nnx

from jaxkd import rng
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.experiments.llm_variance_aware.config import Config
from jaxkd.llm import distill, selection
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import ensemble

MODELS = llm_config.LLMConfig.MODELS
CORRECTED = ("multi", "averaging", "variance-weighting-study", "variance-weighting")
NAMES = {"multi": "multi-response", "averaging": "averaging", "variance-weighting-study": "variance weighting (study)",
         "variance-weighting": "variance weighting (jaxkd)"}


#: The converged rows: each student trains until its training loss stops moving (the engine's
#: stopping rule, judged per epoch), at most CAP times the distillation's epochs over its own set.
STOPPING = ensemble.Stopping(tol=1e-3, window=5)
CAP = 3


def methods(ks, study_schedule: bool, jaxkd_methods: bool, converged: bool = False) -> list[tuple[str, str, int, str]]:
    """(label, method, k, schedule) rows of the table, in order, for the k grid ``ks``: the
    direct fine-tune, single-response and (``jaxkd_methods``) soft targets, then each corrected
    method per k (jaxkd's variance weighting with ``jaxkd_methods``) at the single-response steps
    ("equal") and multi-response at equal epochs per target as well ("epochs": the
    distillation's epochs over its k-times-larger set, k times the steps; the other methods train
    one target per prompt, so their equal steps are equal epochs), and, with ``study_schedule``, on
    the study's schedule ("study": epochs x k passes over the method's set) and single- and
    multi-response at k times single's steps ("k× steps": with the study's rows of averaging and
    weighting, the steps x method grid); with ``converged``, single-response and each corrected
    method trained to its own convergence ("converged": :data:`STOPPING`, at most :data:`CAP`
    times the epochs), which then decide."""
    rows = [("direct fine-tune", "direct", 1, "equal"), ("single", "single", 1, "equal")]
    rows += [("soft targets (token KD)", "soft", 1, "equal")] if jaxkd_methods else []
    corrected = [m for m in CORRECTED if jaxkd_methods or m != "variance-weighting"]
    for schedule in ("equal", "study") if study_schedule else ("equal",):
        rows += [(f"{NAMES[m]} k={k}, {schedule}", m, k, schedule) for k in ks for m in corrected]
        if schedule == "equal":  # multi-response at equal epochs per target (k x pairs: k x steps)
            rows += [(f"{NAMES['multi']} k={k}, equal epochs", "multi", k, "epochs") for k in ks]
    if converged:
        rows += [("single, converged", "single", 1, "converged")]
        rows += [(f"{NAMES[m]} k={k}, converged", m, k, "converged") for k in ks for m in corrected]
    for k in ks if study_schedule else ():
        rows += [(f"single, {k}× steps", "single", k, "k× steps"), (f"multi-response k={k}, {k}× steps", "multi", k,
                                                                     "k× steps")]
    return rows


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per method row of :func:`methods`; measures per replicate)."""

    label: tuple[str, ...]
    method: tuple[str, ...]
    k: tuple[int, ...]
    schedule: tuple[str, ...]
    direct_systematic_noise: tuple[tuple[float, ...], ...]
    direct_hallucination: tuple[tuple[float, ...], ...]
    training_tokens: tuple[int, ...]
    pairs: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    kmax = max(cfg.ks)
    draws = setup.cached(task, setup.work_key(cfg, "va-draws", k=kmax), lambda: replicates.teacher_draws(
        task, rng.stream(cfg.seed, "teacher_sampling_va"), kmax, 1.0))
    draw_embs = measures.embed(task, draws)                               # (R*N, P, kmax, E)
    base_embs = measures.embed(task, setup.cached(task, setup.work_key(cfg, "base-samples", k=kmax),
                                                  lambda: base_samples(task, kmax)))   # (R*N, P, kmax, E)
    teacher = replicates.teacher_reference(task, 1.0)
    direct = replicates.direct_reference(task)
    order = replicates.replicate_keys(task, "data_order")
    single_steps = cfg.steps(len(task.prompts))

    def point(p):
        i, (label, method, k, schedule) = p
        if method == "direct":
            out, pairs = direct, replicates.reference_answers(task)
        else:
            pairs = [selection.select("single" if method == "soft" else method, [d[:k] for d in draws[j]],
                                      draw_embs[j, :, :k], base_embs[j, :, :k]) for j in range(cfg.total_students)]
            # equal: the single-response steps (the last pass over a larger set stops part-way);
            # epochs: the distillation's epochs over the method's own set; the study's schedule:
            # epochs x k passes over it; k× steps: k times single's.
            epochs, steps = {"equal": (cfg.epochs, single_steps), "epochs": (cfg.epochs, None),
                             "converged": (CAP * cfg.epochs, None), "study": (cfg.epochs * k, None),
                             "k× steps": (cfg.epochs * k, k * single_steps)}[schedule]
            out = replicates.train_and_sample(task, pairs, epochs=epochs, max_steps=steps, order=order,
                                              soft=method == "soft", stopping=STOPPING if schedule == "converged"
                                              else None,
                                              key=rng.point_key(rng.stream(cfg.seed, "student_eval"), i),
                                              cache={"kind": "variance-aware", "row": i, "label": label,
                                                     **setup.own_fields(cfg)})
        c = out.compute
        return {"label": label, "method": method, "k": k, "schedule": schedule,
                **measures.measure(task, out, teacher, direct=direct, targets=pairs), "steps": c.steps,
                "passes": float(c.epochs), "training_tokens": c.training_tokens, "pairs": c.pairs}

    rows = methods(cfg.ks, cfg.study_schedule, cfg.jaxkd_methods, cfg.converged_rows)
    points = [(f"m-{i:02d}", (i, row)) for i, row in enumerate(rows)]
    return {**columns(sweep(run_dir, points, point, desc="llm-variance-aware")),
            **measures.regime(task)}


def base_samples(task: setup.Task, k: int) -> list[list[list[str]]]:
    """Each student's own k samples per distillation prompt from its replicate's untrained base
    student ((R*N) x P x k): the student side of variance weighting, drawn per student as the
    study's script does inside its loop over students."""
    cfg = task.cfg
    N = cfg.num_students
    keys = jax.random.split(rng.stream(cfg.seed, "base_eval"), cfg.total_students)
    out = []
    for lo in range(0, cfg.total_students, N):  # one replicate's students at a time
        bases = distill.Students(nnx.graphdef(task.base), task.base_states(lo, lo + N), {})
        out += distill.student_responses(bases, task.tok, task.prompts, k, keys[lo:lo + N], cfg.sampling(1.0))
    return out


def similarity_metric(res: Results) -> tuple[str, str]:
    """The distance to the truth that decides: excess total variation to the known answer
    distribution (S.3), or on single-answer corpora the cosine distance to the reference answer
    (the study's measure), as ``1 − gt_similarity``."""
    if res.single_answer:
        return "gt_distance", "cosine distance to the reference answer (the study's; lower: closer)"
    return "tv_excess", "TV excess to the true answer distribution (S.3; lower: closer)"


def row_values(res: Results, metric: str, i: int) -> np.ndarray:
    """Row ``i``'s per-replicate values of ``metric``: (R,)."""
    if metric == "gt_distance":
        return 1.0 - np.asarray(res.gt_similarity[i], float)
    if metric == "study_systematic_noise" or (metric == "systematic_noise" and res.single_answer):
        # The study's reference: the direct fine-tune (both measured against the truth's noise, which cancels).
        return np.asarray(res.systematic_noise[i], float) - np.asarray(res.direct_systematic_noise[i], float)
    return np.asarray(getattr(res, metric)[i], float)
