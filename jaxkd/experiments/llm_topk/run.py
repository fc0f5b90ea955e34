"""The computation of llm-topk: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from jaxkd import rng
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.experiments.llm_topk.config import Config
from jaxkd.llm import measures as lm
from jaxkd.llm import teacher_logits as tl
from jaxkd.llm.objective import Loss
from jaxkd.llm.training import Students
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import ensemble

BUDGETS = ("equal steps", "converged")
FULL = "full distribution"
STOPPING = ensemble.Stopping(tol=1e-3, window=5)
CAP = 3  # the converged rows' cap: this many times the equal-steps budget


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results per (budget, target) row, budget-major; measures per replicate."""

    budget: tuple[str, ...]
    target: tuple[str, ...]            # "top-k + tail", "top-k renormalised" or "full distribution"
    k: tuple[int, ...]                 # the teacher's kept tokens (the vocabulary for the full row)
    form: tuple[str, ...]              # "bucket", "renormalised" or "full"
    next_token_ece: tuple[tuple[float, ...], ...]
    teacher_next_token_ece: tuple[float, ...]
    student_tail_mass: tuple[tuple[float, ...], ...]   # students' mass outside the teacher's top tail_k
    teacher_tail_mass: tuple[tuple[float, ...], ...]   # the teacher's, on the same positions
    tail_k: tuple[int, ...]            # the k of those masses (the smallest k for the full row)
    converged_share: tuple[tuple[float, ...], ...]     # students stopped by the rule (converged rows; 0 otherwise)
    mean_steps: tuple[tuple[float, ...], ...]          # optimisation steps a student took
    bytes_per_token: tuple[int, ...]   # the file's bytes per scored token (the full distribution's for the full row)
    full_bytes_per_token: int
    file_bytes: tuple[int, ...]        # the file's payload for every student's pairs
    teacher_seconds: tuple[float, ...]  # the teacher pass that wrote the file (as recorded when it was written)
    vocab_size: int


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def targets(cfg: Config, vocab: int) -> list[tuple[str, int, str]]:
    """(label, k, form) of every row, the full distribution last."""
    for k in cfg.ks:
        if k >= vocab:
            raise ValueError(f"k={k} is not below the vocabulary of {vocab} tokens; the full distribution is "
                             "already a row.")
    return ([(f"top-{k} + tail", k, "bucket") for k in cfg.ks] + [(f"top-{k} renormalised", k, "renormalised")
                                                                   for k in cfg.ks] + [(FULL, vocab, "full")])


def _file(task, data, k: int):
    """The teacher-logits file at k on every student's pairs (in the shared folder when there is
    one), and the seconds of the pass that wrote it."""
    T = task.cfg.temperature
    if task.shared is None:
        start = time.perf_counter()
        out = tl.compute(task.teacher, data, k, temperature=T)
        return out, time.perf_counter() - start
    folder = task.shared / "teacher-logits"
    path = folder / tl.content_digest(tl.teacher_digest(task.teacher), tl.pairs_digest(data), k, T)
    stamp = path.with_suffix(".seconds")
    if not stamp.is_file():
        start = time.perf_counter()
        out = tl.cached(task.teacher, data, k, folder, temperature=T)
        stamp.write_text(f"{time.perf_counter() - start:.6f}\n")
        return out, float(stamp.read_text())
    return tl.cached(task.teacher, data, k, folder, temperature=T), float(stamp.read_text())


def _teacher_ece(task) -> float:
    teacher = task.teacher
    from flax import nnx

    graphdef, state = nnx.split(teacher, nnx.Param)
    one = Students(graphdef, jax.tree.map(lambda a: np.asarray(a)[None], state), None)
    return float(lm.next_token_ece(one, task.answers, _answer_weights(task))[0])


def _answer_weights(task) -> np.ndarray:
    """Each evaluation answer's true probability (the order of ``task.answers``)."""
    return np.array([p for it in task.eval_corpus.items for p in it.probs])


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    vocab = task.teacher.config.vocab_size
    rows = targets(cfg, vocab)
    order = replicates.replicate_keys(task, "data_order")
    steps = cfg.steps(len(task.prompts))
    T = cfg.temperature
    draws = setup.cached(task, setup.work_key(cfg, "topk-draws", temperature=float(T)),
                         lambda: replicates.teacher_draws(task, replicates.temperature_key(
                             rng.stream(cfg.seed, "teacher_sampling_topk"), T), 1, T))
    data = replicates.training_pairs(task, [[(q, d[0]) for q, d in enumerate(student)] for student in draws])
    smallest = min(cfg.ks)
    teacher_ece = _teacher_ece(task)
    weights = _answer_weights(task)
    budgets = BUDGETS if cfg.converged else BUDGETS[:1]

    def point(p):
        i, budget, (label, k, form) = p
        file, seconds = _file(task, data, k if form != "full" else smallest)
        loss = Loss("forward_kl", teacher_temperature=T, top_k=0 if form == "full" else k,
                    tail="bucket" if form == "full" else form)
        extra = {"ece": [], "tail": [], "steps": [], "converged": []}

        def after(students, lo, hi):
            extra["ece"].extend(lm.next_token_ece(students, task.answers, weights).tolist())
            own = file.students(data, lo, hi)
            rows_ = replicates.rows(data, lo, hi)
            extra["tail"].extend(lm.mass_outside(students, rows_, own.ids).tolist())
            conv = students.convergence
            extra["steps"].extend([students.compute.steps] * (hi - lo) if conv is None else conv.steps.tolist())
            extra["converged"].extend([0.0] * (hi - lo) if conv is None else conv.converged.astype(float).tolist())

        converged = budget == "converged"
        out = replicates.train_and_sample(
            task, data, max_steps=CAP * steps if converged else steps, epochs=CAP * cfg.epochs if converged else None,
            order=order, loss=loss, teacher_logits=None if form == "full" else file,
            stopping=STOPPING if converged else None, after=after,
            key=rng.point_key(rng.stream(cfg.seed, "student_eval_topk"), i))
        keep = np.asarray(data.loss_mask)[..., 1:] > 0
        teacher_tail = np.array([float(np.exp(np.asarray(file.tail[s], np.float64))[keep[s]].mean())
                                 for s in range(cfg.total_students)])
        N = cfg.num_students
        per_rep = lambda xs: [float(np.mean(xs[r * N:(r + 1) * N])) for r in range(cfg.replicates)]  # noqa: E731
        full_form = form == "full"
        return {"budget": budget, "target": label, "k": k, "form": form,
                **measures.measure(task, out, replicates.teacher_reference(task, T)),
                "next_token_ece": per_rep(extra["ece"]), "teacher_next_token_ece": teacher_ece,
                "student_tail_mass": per_rep(extra["tail"]), "teacher_tail_mass": per_rep(teacher_tail),
                "tail_k": smallest if full_form else k, "converged_share": per_rep(extra["converged"]),
                "mean_steps": per_rep(extra["steps"]),
                "bytes_per_token": file.full_bytes_per_token if full_form else file.bytes_per_token,
                "file_bytes": file.positions * (file.full_bytes_per_token if full_form else file.bytes_per_token),
                "teacher_seconds": seconds, "steps": out.compute.steps, "passes": float(out.compute.epochs)}

    grid = [(i, b, t) for i, (b, t) in enumerate((b, t) for b in budgets for t in rows)]
    points = sweep(run_dir, [(f"k-{i:02d}", g) for i, g in enumerate(grid)], point, desc="llm-topk")
    return {**columns(points), **measures.regime(task), "full_bytes_per_token": 4 * vocab, "vocab_size": vocab}


def row_at(res: Results, budget: str, target: str) -> int:
    return next(i for i in range(len(res.target)) if res.budget[i] == budget and res.target[i] == target)
