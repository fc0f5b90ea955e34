"""LLM student initialization uncertainty (study Section 5.1, Appendix D).

Protocol (the study's): every student starts from its replicate's base student with each
parameter multiplied by ``(1 + eps)``, ``eps ~ N(0, s^2)`` per parameter (a relative
perturbation, N(0, (s|w|)^2) added), and learns the teacher's greedy answers in its replicate's
data order, so the perturbation is the only difference between the students of a replicate. R
replicates (their own base student, data order and perturbation draws) of N students.

The claim is about outputs, so it is judged on them: the spread across students of the
teacher-forced log-probability of every valid answer (no sampling floor) at the largest s,
divided by the spread that the teacher's own randomness causes (students that differ only in
their sampled teacher answers at T = 1: llm-teacher-noise's students), against the same ratio for
MLP students on Boston (the variance of their test predictions under the same perturbation,
divided by the variance that teacher noise at α = 1 causes). Also measured against s: the
between-student variance (corrected for its floor, S.1), greedy disagreement, alignment; how
much training amplifies the initial parameter spread (GPT-2 and MLP students, the same rule);
and the trajectories of three tracked parameters through fine-tuning, the unperturbed one
(s = 0) drawn in black.
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
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, report, setup, stats
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

MODELS = llm_config.LLMConfig.MODELS
TRACKED = ("wte embedding[5, 0]", "h[0] c_attn kernel[0, 0]", "h[-1] c_fc kernel[0, 0]")


@dataclasses.dataclass(frozen=True)
class Config(llm_config.LLMConfig):
    PRESETS: ClassVar[dict] = llm_config.paper(num_students=20, scales=(0.0, 0.01, 0.02, 0.03, 0.04, 0.05))

    scales: tuple[float, ...] = option((0.0, 0.01, 0.05), "init perturbation scales s (the quick preset: 0, the "
                                       "study's smallest and largest; the paper preset: 0 and 1%, 2%, ..., 5%)")
    tracked_students: int = option(2, "students whose parameter trajectories are drawn")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales, v.check_nonnegative))
        v.check_int("tracked students", self.tracked_students)
        if self.tracked_students > self.num_students:
            raise ValueError(f"tracked students ({self.tracked_students}) cannot exceed the students per "
                             f"replicate ({self.num_students}).")


def _tracked(state) -> jax.Array:
    """The tracked scalars of one student: (3,)."""
    pure = nnx.to_pure_dict(state)
    return jnp.stack([pure["wte"]["embedding"][5, 0], pure["h"][0]["attn"]["c_attn"]["kernel"][0, 0],
                      pure["h"][max(pure["h"])]["mlp"]["c_fc"]["kernel"][0, 0]])


class Spread:
    """Per replicate, the variance across its students of every parameter, averaged over all
    parameters, accumulated chunk by chunk of students (sums and sums of squares in float64)."""

    def __init__(self, replicates: int, students: int):
        self.R, self.N = replicates, students
        self.s1, self.s2 = None, None

    def add(self, states, lo: int) -> None:
        leaves = [np.asarray(a, np.float64).reshape(a.shape[0], -1) for a in jax.tree.leaves(states)]
        x = np.concatenate(leaves, axis=1)                                 # (chunk, parameters)
        if self.s1 is None:
            self.s1, self.s2 = np.zeros((self.R, x.shape[1])), np.zeros((self.R, x.shape[1]))
        rep = (lo + np.arange(x.shape[0])) // self.N
        np.add.at(self.s1, rep, x)
        np.add.at(self.s2, rep, x * x)

    def value(self) -> np.ndarray:
        mean = self.s1 / self.N
        return ((self.s2 - self.N * mean * mean) / (self.N - 1)).mean(axis=1)


def parameter_spread(states, replicates: int) -> np.ndarray:
    """Per replicate, the variance across its students of every parameter, averaged over all
    parameters: stacked states (R*N, ...) -> (R,)."""
    n = jax.tree.leaves(states)[0].shape[0]
    spread = Spread(replicates, n // replicates)
    spread.add(states, 0)
    return spread.value()


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per perturbation scale s; measures per replicate)."""

    scale: tuple[float, ...]
    spread_before: tuple[tuple[float, ...], ...]       # GPT-2 parameter variance, s x R
    spread_after: tuple[tuple[float, ...], ...]
    mlp_spread_before: tuple[tuple[float, ...], ...]   # MLP students, same rule, s x R
    mlp_spread_after: tuple[tuple[float, ...], ...]
    tracked_spread: tuple[tuple[float, ...], ...]      # s x steps: std across students of the tracked scalars
    trajectories: tuple                                 # s x tracked students x 3 x steps
    mlp_variance: tuple[tuple[float, ...], ...]        # MLP test-prediction variance across students, s x R
    draw_logprob_spread: tuple[float, ...]              # GPT-2 students differing only in teacher draws (T = 1), R
    mlp_draw_variance: tuple[float, ...]                # MLP students differing only in teacher noise (α = 1), R


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def mlp_comparator(cfg: Config) -> dict:
    """MLP students on Boston, one seed per replicate: perturbed by the same rule at the same
    scales (``init-perturbation``'s quick design: parameter spread before and after training, and
    the variance of their test predictions, (s, R)), and distilled from a noisy teacher at α = 1
    with nothing else varied (``teacher-noise``'s: the variance that teacher noise causes, (R,))."""
    from jaxkd.experiments import init_perturbation as ip
    from jaxkd.experiments import teacher_noise as tn

    n = max(cfg.num_students, 10)
    before, after, variance, draws = [], [], [], []
    for r in range(cfg.replicates):
        res = ip.run(ip.Config.from_preset("quick", scales=cfg.scales, num_students=n, seed=cfg.seed * 1000 + r))
        before.append(res.param_variance_before)
        after.append(res.param_variance_after)
        variance.append(res.inter_student_variance)
        noisy = tn.run(tn.Config.from_preset("quick", model="mlp", alphas=(1.0,), num_students=n,
                                             seed=cfg.seed * 1000 + r))
        draws.append(noisy.inter_student_variance[0])
    return {"mlp_spread_before": np.asarray(before).T, "mlp_spread_after": np.asarray(after).T,
            "mlp_variance": np.asarray(variance).T, "mlp_draw_variance": np.asarray(draws)}


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    from jaxkd.experiments.llm_teacher_noise import distil_at_temperature

    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    teacher = replicates.teacher_reference(task, 1.0)
    pairs = list(enumerate(replicates.greedy_answers(task)))   # the teacher's greedy answers to the distillation prompts
    # Frozen data order within a replicate: its students see the same batches.
    order = replicates.replicate_keys(task, "data_order")
    perturb_key = rng.stream(cfg.seed, "init_perturbation")
    mlps = mlp_comparator(cfg)
    draws = measures.measure(task, distil_at_temperature(task, 1.0), teacher)["logprob_spread"]

    def point(p):
        i, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.total_students)
        spread0, after = Spread(cfg.replicates, cfg.num_students), Spread(cfg.replicates, cfg.num_students)
        starts, traces = [], []

        def init(lo, hi):  # students lo..hi-1 perturbed from their base (only a chunk in memory)
            return jax.vmap(mlp.perturb, in_axes=(0, 0, None))(task.base_states(lo, hi), keys[lo:hi], s)

        def start(states, lo, hi):
            spread0.add(states, lo)
            starts.append(np.asarray(jax.vmap(_tracked)(states)))          # (chunk, 3)

        def keep(students, lo, hi):
            after.add(students.states, lo)
            traces.append(np.asarray(students.trace))                       # (chunk, steps, 3)

        out = replicates.train_and_sample(task, pairs, order=order, init_states=init, trace=_tracked, before=start,
                                          after=keep, key=rng.point_key(perturb_key, i, 1))
        traj = np.concatenate([np.concatenate(starts)[:, None], np.concatenate(traces)], axis=1)  # (S, steps + 1, 3)
        first = traj[: cfg.num_students]                                     # replicate 0
        return {"scale": s, **measures.measure(task, out, teacher), "passes": float(cfg.epochs),
                "steps": out.compute["steps"],
                "spread_before": spread0.value().tolist(), "spread_after": after.value().tolist(),
                **{k: mlps[k][i].tolist() for k in ("mlp_spread_before", "mlp_spread_after", "mlp_variance")},
                "tracked_spread": first.std(axis=0, ddof=1).mean(axis=1).tolist(),
                "trajectories": np.transpose(first[: cfg.tracked_students], (0, 2, 1)).tolist()}

    rows = sweep(run_dir, [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)], point,
                        desc="llm-init")
    return {**columns(rows), "draw_logprob_spread": draws, "mlp_draw_variance": mlps["mlp_draw_variance"],
            **measures.regime(task)}


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
    report.errorbar(a1, s, res, "inter_student_variance_corrected", "o-", label="between-student var, corrected (S.1)")
    report.errorbar(a1, s, res, "inter_student_variance_floor", "x:", label="sampling floor (S.1)")
    a1.set_xlabel("perturbation scale s")
    a1.set_ylabel("variance of mean embedding")
    a1.legend(fontsize=7)
    a1b = a1.twinx()
    report.errorbar(a1b, s, res, "greedy_disagreement", "s--", color="C2", label="greedy disagreement (right)")
    a1b.legend(fontsize=7, loc="lower right")
    for before, after, label, fmt_ in ((res.spread_before, res.spread_after, "GPT-2 students", "o-"),
                                       (res.mlp_spread_before, res.mlp_spread_after, "MLP students", "s-")):
        amp = amplification(before, after)
        keep = [i for i, x in enumerate(s) if x > 0]
        iv = np.array([stats.mean_interval(np.log10(amp[i])) for i in keep])
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
    return {"init.png": fig_llm_init(res), "trajectories.png": fig_llm_trajectories(res),
            "training.png": report.fig_training(res, [f"s = {s}" for s in res.scale])}


def _ratio_cell(ratios) -> str:
    """Geometric mean of per-replicate ratios and the 95% interval of their log, back on the ratio scale."""
    return stats.span(*(10 ** x for x in stats.mean_interval(np.log10(ratios))), digits=3)


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    main = report.table(res, "s", res.scale,
                        ["inter_student_variance", "inter_student_variance_floor", "inter_student_variance_corrected",
                         "greedy_disagreement", "logprob_spread", "alignment", "hallucination", "tv_excess"],
                        ["between-student var", "floor (S.1)", "corrected (S.1)", "greedy disagreement",
                         "log-prob spread", "alignment", "hallucination", "TV excess (S.3)"])
    draws, mlp_draws = np.asarray(res.draw_logprob_spread), np.asarray(res.mlp_draw_variance)
    sens = doc.Table(["s", "GPT-2: log-prob spread / spread from teacher draws",
                      "MLP: prediction variance / variance from teacher noise (α = 1)"],
                     [[s, _ratio_cell(np.asarray(res.logprob_spread[i]) / draws),
                       _ratio_cell(np.asarray(res.mlp_variance[i]) / mlp_draws)]
                      for i, s in enumerate(res.scale) if s > 0])
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
    return report.llm_section("LLM student initialization perturbation (Section 5.1, App. D)", res, [
        doc.Paragraph("Initial parameters × (1 + ε), ε ~ N(0, s²) per parameter; the teacher's greedy answers and "
                      "the same batch order for every student of a replicate."),
        main,
        doc.Paragraph(doc.Strong("Sensitivity relative to the teacher's randomness"), " (what the claim reads; "
                      "geometric mean over replicates, 95% interval from the log ratios):"),
        sens,
        doc.Paragraph(doc.Strong("How much training amplifies the initial spread"), " (variance across students "
                      "of every parameter, averaged, after training / at init; geometric mean over replicates, 95% "
                      "interval from the log ratios; MLP: Boston, init-perturbation's quick design, the same rule):"),
        amp, doc.Figure("init.png", "init"), doc.Figure("trajectories.png", "tracked parameters"),
        doc.Figure("training.png", "the students' training loss at every step")], steps=res.steps[0])


# --- claims: what the study says this experiment shows, judged from its results ------------


def sensitivity(res: Results) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, at the largest s: GPT-2 students' log-prob spread over the spread teacher
    draws cause, and MLP students' prediction variance over the variance teacher noise causes."""
    i = int(np.argmax(res.scale))
    return (np.asarray(res.logprob_spread[i]) / np.asarray(res.draw_logprob_spread),
            np.asarray(res.mlp_variance[i]) / np.asarray(res.mlp_draw_variance))


def _llm_init(res: Results) -> Interval:
    i = int(np.argmax(res.scale))
    g, m = sensitivity(res)
    est, lo, hi = stats.mean_interval(np.log10(g) - np.log10(m))
    amp_g = np.log10(amplification(res.spread_before[i], res.spread_after[i]))
    amp_m = np.log10(amplification(res.mlp_spread_before[i], res.mlp_spread_after[i]))
    return Interval(est, lo, hi, len(g),
                    f"at s = {fmt(res.scale[i])}: the spread a perturbation causes, relative to the spread teacher "
                    f"randomness causes, is {fmt(10 ** np.log10(g).mean(), 3)} for GPT-2 students (log-prob spread, "
                    f"no floor) and {fmt(10 ** np.log10(m).mean(), 3)} for MLP students (test-prediction variance); "
                    f"log10 ratio GPT-2 − MLP {stats.span(est, lo, hi)} over {len(g)} replicates; training "
                    f"multiplies the parameter spread by {fmt(10 ** amp_g.mean(), 3)} (GPT-2) and "
                    f"{fmt(10 ** amp_m.mean(), 3)} (MLP); {report.regime_text(res)}", gate=measures.gate(res))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations (than small MLPs)",
          "at the largest s, per replicate: log10 of the GPT-2 students' output spread (teacher-forced log-prob of "
          "the valid answers, no sampling floor) over the spread their teacher's sampled answers cause, minus log10 "
          "of the MLP students' test-prediction variance over the variance teacher noise at α = 1 causes: its 95% "
          "interval lies above 0; inconclusive (regime) when the teacher at T = 1 or the direct fine-tune "
          "hallucinates more than 10%", ("llm-init-gpt2",), _llm_init),
)
