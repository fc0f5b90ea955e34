"""LLM student initialization uncertainty (study Section 5.1, Appendix D).

Every student starts from the base student with each weight multiplied by ``(1 + eps)``,
``eps ~ N(0, s^2)`` (s = 1-5%), and is distilled on the same single-response teacher answers
in the same order, so the init is the only difference. Measured against s: inter-student
variance, alignment and ground-truth similarity; and, per s, the trajectories of a few tracked
parameters during fine-tuning.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.claims import Claim, trend
from jaxkd.config import option
from jaxkd.experiments import common, llm_common as lc
from jaxkd.formatting import fmt, markdown_table
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir
from jaxkd.students import mlp

MODELS = lc.LLMConfig.MODELS
TRACKED = ("wte embedding[5, 0]", "h[0] c_attn kernel[0, 0]", "h[-1] c_fc kernel[0, 0]")


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper(scales=(0.0, 0.01, 0.02, 0.03, 0.04, 0.05))

    scales: tuple[float, ...] = option((0.0, 0.01, 0.03, 0.05), "init perturbation scales s")
    tracked_students: int = option(3, "students whose parameter trajectories are recorded")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "scales", v.check_grid("perturbation scales", self.scales, v.check_nonnegative))
        v.check_int("tracked students", self.tracked_students)


def _tracked(state) -> jax.Array:
    """The tracked scalars of every student: (N, 3)."""
    pure = nnx.to_pure_dict(state)
    return jnp.stack([pure["wte"]["embedding"][:, 5, 0], pure["h"][0]["attn"]["c_attn"]["kernel"][:, 0, 0],
                      pure["h"][max(pure["h"]) ]["mlp"]["c_fc"]["kernel"][:, 0, 0]], axis=1)


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
    """Typed results (per perturbation scale s)."""

    scale: tuple[float, ...]
    trajectories: tuple


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    targets = lc.sample_model(task, task.teacher, 1, 1.0, rng.stream(cfg.seed, "teacher_sampling"))
    pairs = [(q, s[0]) for q, s in enumerate(targets)]
    t_embs = lc.embed(task, lc.sample_model(task, task.teacher, cfg.samples, 1.0, rng.stream(cfg.seed, "teacher_eval")))
    # Frozen data order: every student sees the same batches.
    order = jnp.broadcast_to(rng.stream(cfg.seed, "data_order"), (cfg.num_students,))
    _, base_state = nnx.split(task.base)
    perturb_key = rng.stream(cfg.seed, "init_perturbation")

    def point(p):
        i, s = p
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.num_students)
        init = jax.vmap(mlp.perturb, in_axes=(None, 0, None))(base_state, keys, s)
        trace = []
        students = lc.train_students(task, pairs, order, init_states=init,
                                     track=lambda step, state: trace.append(np.asarray(_tracked(state))))
        s_embs = lc.embed(task, lc.sample_students(task, students, cfg.samples, 1.0, rng.point_key(perturb_key, i, 1)))
        traj = np.stack(trace)[:, : cfg.tracked_students]  # (steps, students, 3)
        return {"scale": s, **lc.summarize(task, s_embs, t_embs),
                "trajectories": np.transpose(traj, (1, 2, 0)).tolist()}  # (students, 3, steps)

    rows = common.sweep(run_dir, [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)], point,
                        desc="llm-init")
    return common.columns(rows)


# --- report: figures and markdown ----------------------------------------------------------


def fig_llm_trajectories(res: Results):

    fig, axes = subplots(1, len(TRACKED), figsize=(4 * len(TRACKED), 3.5))
    for j, name in enumerate(TRACKED):
        ax = axes[j]
        for i, s in enumerate(res.scale):
            for st, traj in enumerate(res.trajectories[i]):
                ax.plot(traj[j], color=f"C{i}", lw=0.8, label=f"s = {s}" if st == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("parameter value")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the markdown refers to them)."""
    return {"trajectories.png": fig_llm_trajectories(res)}



def markdown(res: Results) -> str:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    keys = ["scale", "inter_student_variance", "alignment", "gt_similarity", "student_noise", "hallucination"]
    table = markdown_table(["s", "inter-student var", "alignment", "cos GT", "student noise", "halluc."],
                           list(zip(*(getattr(res, k) for k in keys))))
    return (lc.llm_header("LLM student initialization perturbation (Section 5.1, App. D)", cfg)
            + "Initial weights × (1 + ε), ε ~ N(0, s²); same targets and batch order for every "
            f"student.\n\n{table}\n\n![tracked parameters](trajectories.png)\n")


# --- claims: what the study says this experiment shows, judged from its results ------------


def _llm_init(res: Results) -> tuple[bool, str]:
    s = np.asarray(res.scale, float)
    V = np.asarray(res.inter_student_variance)
    ratio = V[-1] / V[0] if V[0] > 0 else np.inf
    return ratio >= 2 and trend(s, V) > 0.5, (
        f"inter-student variance {fmt(V[0])} at s = 0 (sampling noise only) vs {fmt(V[-1])} at "
        f"s = {fmt(s[-1])} (ratio {fmt(ratio, 3)}; rank correlation with s {fmt(trend(s, V), 2)})")


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations",
          "inter-student variance at the largest s is at least twice its s = 0 level and rises with s",
          ("llm-init-gpt2",), _llm_init),
)
