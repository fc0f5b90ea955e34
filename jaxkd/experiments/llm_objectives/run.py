"""The computation of llm-objectives: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import rng
from jaxkd.experiments.llm_objectives.config import Config
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.llm import metrics as tm
from jaxkd.llm.objective import Loss
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS

#: (label, loss kind, beta, on-policy λ, teacher samples k per prompt) in table order.
OBJECTIVES: tuple[tuple[str, str, float, float, int], ...] = (
    ("forward KL", "forward_kl", 0.0, 0.0, 1),
    ("JSD(0.1)", "jsd", 0.1, 0.0, 1),
    ("JSD(0.5)", "jsd", 0.5, 0.0, 1),
    ("JSD(0.9)", "jsd", 0.9, 0.0, 1),
    ("reverse KL", "reverse_kl", 1.0, 0.0, 1),
    ("on-policy λ=0.5, JSD(0.5)", "jsd", 0.5, 0.5, 1),
    ("on-policy λ=1, JSD(0.5)", "jsd", 0.5, 1.0, 1),
    ("sequence-level k=1", "ce", 0.0, 0.0, 1),
    ("sequence-level k=3", "ce", 0.0, 0.0, 3),
)


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per temperature x objective, temperature-major; measures per replicate)."""

    temperature: tuple[float, ...]
    objective: tuple[str, ...]
    beta: tuple[float, ...]
    on_policy: tuple[float, ...]
    k: tuple[int, ...]
    c1_student_entropy: tuple[float, ...]   # C.1: the mean entropy of an empirical distribution of k samples


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def c1_entropy(task: setup.Task, k: int) -> float:
    """C.1's expectation: the mean over evaluation questions of E[H(p̂_k)], the entropy of the
    empirical distribution of k answers drawn from the true distribution (exact enumeration)."""
    items = task.eval_corpus.items
    return float(np.mean([tm.plugin_floors(it.probs, k)["entropy_bias"] + it.entropy for it in items]))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    order = replicates.replicate_keys(task, "data_order")
    steps = cfg.steps(len(task.prompts))
    kmax = max(o[4] for o in OBJECTIVES)

    def point(p):
        i, T, (label, kind, beta, lam, k) = p
        draws = setup.cached(task, setup.work_key(cfg, "objectives-draws", temperature=float(T), k=kmax),
                             lambda: replicates.teacher_draws(task, replicates.temperature_key(
                                 rng.stream(cfg.seed, "teacher_sampling_objectives"), T), kmax, T))
        if kind == "ce" and k > 1:
            pairs = [[(q, a) for q, d in enumerate(student) for a in d[:k]] for student in draws]
        else:
            pairs = [[(q, d[0]) for q, d in enumerate(student)] for student in draws]
        loss = Loss(kind, beta=beta, teacher_temperature=T, on_policy=lam, max_new_tokens=cfg.max_new_tokens)
        out = replicates.train_and_sample(
            task, pairs, max_steps=steps, order=order, loss=loss,
            sample_keys=replicates.replicate_keys(task, "on_policy_samples") if lam else None,
            coin_key=rng.point_key(rng.stream(cfg.seed, "on_policy_coin"), i) if 0 < lam < 1 else None,
            key=rng.point_key(rng.stream(cfg.seed, "student_eval_objectives"), i),
            cache={"kind": "objectives", "row": i, "label": label, **setup.own_fields(cfg)})
        return {"temperature": T, "objective": label, "beta": beta, "on_policy": lam, "k": k,
                **measures.measure(task, out, replicates.teacher_reference(task, T)), "steps": out.compute.steps,
                "passes": float(out.compute.epochs), "c1_student_entropy": c1_entropy(task, k)}

    grid = [(i, T, o) for i, (T, o) in enumerate((T, o) for T in cfg.temperatures for o in OBJECTIVES)]
    rows = sweep(run_dir, [(f"o-{i:02d}", g) for i, g in enumerate(grid)], point, desc="llm-objectives")
    return {**columns(rows), **measures.regime(task)}


def row_at(res: Results, T: float, label: str) -> int:
    return next(i for i in range(len(res.objective)) if res.temperature[i] == T and res.objective[i] == label)
