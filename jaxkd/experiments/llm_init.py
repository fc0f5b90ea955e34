"""LLM student initialization uncertainty (study Section 5.1, Appendix D).

Protocol (the study's): every student starts from the base student with each parameter
multiplied by ``(1 + eps)``, ``eps ~ N(0, s^2)`` per parameter (a relative perturbation,
N(0, (s|w|)^2) added), and learns the teacher's greedy answers in the same data order, so the
perturbation is the only difference. R replicates (their own perturbation draws) of N students.
Measured against s: between-student variance (corrected for its floor, S.1), greedy
disagreement and log-prob spread (no floor), alignment; how much training amplifies the initial
spread (parameter variance across students after / before training) for these GPT-2 students
and, with the same rule, for MLP students on Boston (the ``init-perturbation`` experiment's quick
design, R seeds); and the trajectories of three tracked parameters through fine-tuning, the
unperturbed one (s = 0) drawn in black.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.config import option
from jaxkd.experiments import llm_common as lc
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

MODELS = lc.LLMConfig.MODELS
TRACKED = ("wte embedding[5, 0]", "h[0] c_attn kernel[0, 0]", "h[-1] c_fc kernel[0, 0]")


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper(scales=(0.0, 0.01, 0.02, 0.03, 0.04, 0.05))

    scales: tuple[float, ...] = option((0.0, 0.01, 0.03, 0.05), "init perturbation scales s")
    tracked_students: int = option(3, "students whose parameter trajectories are drawn")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales, v.check_nonnegative))
        v.check_int("tracked students", self.tracked_students)
        if self.tracked_students > self.num_students:
            raise ValueError(f"tracked students ({self.tracked_students}) cannot exceed the students per "
                             f"replicate ({self.num_students}).")


def _tracked(state) -> jax.Array:
    """The tracked scalars of every student: (S, 3)."""
    pure = nnx.to_pure_dict(state)
    return jnp.stack([pure["wte"]["embedding"][:, 5, 0], pure["h"][0]["attn"]["c_attn"]["kernel"][:, 0, 0],
                      pure["h"][max(pure["h"])]["mlp"]["c_fc"]["kernel"][:, 0, 0]], axis=1)


def parameter_spread(states, replicates: int) -> np.ndarray:
    """Per replicate, the variance across its students of every parameter, averaged over all
    parameters: stacked states (R*N, ...) -> (R,)."""
    total, count = np.zeros(replicates), 0
    for leaf in jax.tree.leaves(states):
        x = np.asarray(leaf, np.float64).reshape(replicates, -1, *leaf.shape[1:])
        total += x.var(axis=1, ddof=1).reshape(replicates, -1).sum(axis=1)
        count += int(np.prod(leaf.shape[1:]))
    return total / count


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
    """Typed results (per perturbation scale s; measures per replicate)."""

    scale: tuple[float, ...]
    spread_before: tuple[tuple[float, ...], ...]       # GPT-2 parameter variance, s x R
    spread_after: tuple[tuple[float, ...], ...]
    mlp_spread_before: tuple[tuple[float, ...], ...]   # MLP students, same rule, s x R
    mlp_spread_after: tuple[tuple[float, ...], ...]
    tracked_spread: tuple[tuple[float, ...], ...]      # s x steps: std across students of the tracked scalars
    trajectories: tuple                                 # s x tracked students x 3 x steps


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def mlp_spreads(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """MLP students (Boston, ``init-perturbation``'s quick design) perturbed by the same rule at
    the same scales, one seed per replicate: parameter spread before and after training, (s, R)."""
    from jaxkd.experiments import init_perturbation as ip

    before, after = [], []
    for r in range(cfg.replicates):
        res = ip.run(ip.Config.from_preset("quick", scales=cfg.scales, num_students=max(cfg.num_students, 10),
                                           seed=cfg.seed * 1000 + r))
        before.append(res.param_variance_before)
        after.append(res.param_variance_after)
    return np.asarray(before).T, np.asarray(after).T


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    teacher = lc.teacher_reference(task, 1.0)
    pairs = list(enumerate(teacher["greedy"]))
    # Frozen data order: every student sees the same batches.
    order = jnp.broadcast_to(rng.stream(cfg.seed, "data_order"), (cfg.total_students,))
    _, base_state = nnx.split(task.base)
    perturb_key = rng.stream(cfg.seed, "init_perturbation")
    mlp_before, mlp_after = mlp_spreads(cfg)

    def point(p):
        i, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.total_students)
        init = jax.vmap(mlp.perturb, in_axes=(None, 0, None))(base_state, keys, s)
        trace = [np.asarray(_tracked(init))]
        before = parameter_spread(init, cfg.replicates)  # read now: training consumes the init buffers
        students = lc.distil_students(task, pairs, steps=cfg.steps(len(pairs)), order=order, init_states=init,
                                      track=lambda step, state: trace.append(np.asarray(_tracked(state))))
        out = lc.outputs(task, students, rng.point_key(perturb_key, i, 1))
        traj = np.stack(trace)                                     # (steps + 1, S, 3)
        first = traj[:, : cfg.num_students]                        # replicate 0
        return {"scale": s, **lc.measure(task, out, teacher), "passes": float(cfg.epochs),
                "steps": out["compute"]["steps"],
                "spread_before": before.tolist(),
                "spread_after": parameter_spread(students.states, cfg.replicates).tolist(),
                "mlp_spread_before": mlp_before[i].tolist(), "mlp_spread_after": mlp_after[i].tolist(),
                "tracked_spread": first.std(axis=1, ddof=1).mean(axis=1).tolist(),
                "trajectories": np.transpose(first[:, : cfg.tracked_students], (1, 2, 0)).tolist()}

    rows = sweep(run_dir, [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)], point,
                        desc="llm-init")
    return columns(rows)


def amplification(before, after) -> np.ndarray:
    """Spread after / before training per replicate (NaN where nothing was perturbed)."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    return np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)


# --- report: figures and document ----------------------------------------------------------


def fig_llm_trajectories(res: Results):
    fig, axes = subplots(1, len(TRACKED), figsize=(4 * len(TRACKED), 3.5))
    for j, name in enumerate(TRACKED):
        ax = axes[j]
        for i, s in enumerate(res.scale):
            for st, traj in enumerate(res.trajectories[i]):
                if s == 0:
                    ax.plot(traj[j], color="k", lw=1.6, label="unperturbed (s = 0)" if st == 0 else None, zorder=3)
                else:
                    ax.plot(traj[j], color=f"C{i}", lw=0.8, label=f"s = {s}" if st == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("parameter value")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_llm_init(res: Results):
    fig, (a1, a2) = subplots(1, 2, figsize=(10, 3.8))
    s = res.scale
    lc.errorbar(a1, s, res, "inter_student_variance_corrected", "o-", label="between-student var, corrected (S.1)")
    lc.errorbar(a1, s, res, "inter_student_variance_floor", "x:", label="sampling floor (S.1)")
    a1.set_xlabel("perturbation scale s")
    a1.set_ylabel("variance of mean embedding")
    a1.legend(fontsize=7)
    a1b = a1.twinx()
    lc.errorbar(a1b, s, res, "greedy_disagreement", "s--", color="C2", label="greedy disagreement (right)")
    a1b.legend(fontsize=7, loc="lower right")
    for before, after, label, fmt_ in ((res.spread_before, res.spread_after, "GPT-2 students", "o-"),
                                       (res.mlp_spread_before, res.mlp_spread_after, "MLP students", "s-")):
        amp = amplification(before, after)
        keep = [i for i, x in enumerate(s) if x > 0]
        iv = np.array([lc.mean_interval(np.log10(amp[i])) for i in keep])
        a2.errorbar([s[i] for i in keep], iv[:, 0], yerr=[iv[:, 0] - iv[:, 1], iv[:, 2] - iv[:, 0]], fmt=fmt_,
                    capsize=3, label=label)
    a2.axhline(0.0, color="k", lw=0.8)
    a2.set_xlabel("perturbation scale s")
    a2.set_ylabel("log10 parameter spread after / before")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"init.png": fig_llm_init(res), "trajectories.png": fig_llm_trajectories(res)}


def _ratio_cell(ratios) -> str:
    """Geometric mean of per-replicate ratios and the 95% interval of their log, back on the ratio scale."""
    return lc.span(*(10 ** x for x in lc.mean_interval(np.log10(ratios))), digits=3)


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    main = lc.table(res, "s", res.scale,
                    ["inter_student_variance", "inter_student_variance_floor", "inter_student_variance_corrected",
                     "greedy_disagreement", "logprob_spread", "alignment", "total_variation"],
                    ["between-student var", "floor (S.1)", "corrected (S.1)", "greedy disagreement",
                     "log-prob spread", "alignment", "TV to truth"])
    rows = []
    for i, s in enumerate(res.scale):
        if s == 0:
            continue
        g = amplification(res.spread_before[i], res.spread_after[i])
        m = amplification(res.mlp_spread_before[i], res.mlp_spread_after[i])
        steps = res.tracked_spread[i]
        rows.append([s, _ratio_cell(g), _ratio_cell(m), f"{fmt(steps[-1] / steps[0], 3)}" if steps[0] > 0 else "—"])
    amp = doc.Table(["s", "GPT-2: spread after / before", "MLP: spread after / before",
                     "tracked scalars: std after / before (replicate 0)"], rows)
    return lc.llm_section("LLM student initialization perturbation (Section 5.1, App. D)", cfg, [
        doc.Paragraph("Initial parameters × (1 + ε), ε ~ N(0, s²) per parameter; the teacher's greedy answers and "
                      "the same batch order for every student."),
        main,
        doc.Paragraph(doc.Strong("How much training amplifies the initial spread"), " (variance across students "
                      "of every parameter, averaged, after training / at init; geometric mean over replicates, 95% "
                      "interval from the log ratios; MLP: Boston, init-perturbation's quick design, the same rule):"),
        amp, doc.Figure("init.png", "init"), doc.Figure("trajectories.png", "tracked parameters")], steps=res.steps[0])


# --- claims: what the study says this experiment shows, judged from its results ------------


def _llm_init(res: Results) -> Interval:
    i = int(np.argmax(res.scale))
    g = np.log10(amplification(res.spread_before[i], res.spread_after[i]))
    m = np.log10(amplification(res.mlp_spread_before[i], res.mlp_spread_after[i]))
    est, lo, hi = lc.mean_interval(g - m)
    corr = lc.mean_interval(res.inter_student_variance_corrected[i])
    return Interval(est, lo, hi, len(g),
                    f"at s = {fmt(res.scale[i])}: training multiplies the parameter spread by "
                    f"{fmt(10 ** g.mean(), 3)} for GPT-2 students and {fmt(10 ** m.mean(), 3)} for MLP students; "
                    f"log10 ratio GPT-2 − MLP {lc.span(est, lo, hi)} over {len(g)} replicates; "
                    f"corrected between-student variance {lc.span(*corr)}")


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations (than small MLPs)",
          "at the largest s, log10(parameter spread after / before training) of GPT-2 students minus that of "
          "MLP students perturbed by the same rule, per replicate: its 95% interval lies above 0",
          ("llm-init-gpt2",), _llm_init),
)
