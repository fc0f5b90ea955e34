"""Noise transfer across teacher temperatures (study Sections 6.2, 7.3): how much of the
teacher's per-prompt noise reaches single-response students (slope and R^2 of student noise on
teacher noise across prompts), and the students' systematic noise: their noise minus that of
the base student fine-tuned directly on ground-truth answers.
"""

from __future__ import annotations

import dataclasses


from jaxkd import rng
from jaxkd.experiments import common, llm_common as lc
from jaxkd.formatting import fmt, markdown_table
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.TemperatureConfig):
    """Temperatures (quick: 0.5, 1, 1.5; paper: the study's six) and the shared llm fields."""


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
    """Typed results (per teacher temperature)."""

    temperature: tuple[float, ...]
    systematic_noise: tuple[float, ...]
    direct_noise: float


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    key = rng.stream(cfg.seed, "teacher_sampling")
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    _, direct = lc.direct_reference(task)

    def point(p):
        i, T = p
        t_embs, s_embs = lc.distil_at_temperature(task, T, rng.point_key(key, i), order)
        return {"temperature": T, **lc.summarize(task, s_embs, t_embs, direct_noise=direct)}

    rows = common.sweep(run_dir, [(f"T-{i:02d}", (i, T)) for i, T in enumerate(cfg.temperatures)],
                        point, desc="llm-noise-transfer")
    return {**common.columns(rows), "direct_noise": float(direct.mean())}


# --- report: figures and markdown ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the markdown refers to them)."""
    fig, ax = subplots(figsize=(5.5, 3.8))
    ax.plot(res.temperature, res.noise_slope, "o-", label="slope of student on teacher noise")
    ax.plot(res.temperature, res.noise_r2, "s-", label="R²")
    ax.plot(res.temperature, res.systematic_noise, "^-", label="systematic noise")
    ax.set_xlabel("teacher temperature")
    ax.set_ylabel("value")
    ax.legend(fontsize=8)
    return {"noise_transfer.png": fig}



def markdown(res: Results) -> str:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    keys = ["temperature", "teacher_noise", "student_noise", "noise_slope", "noise_r2", "systematic_noise"]
    table = markdown_table(["T", "teacher noise", "student noise", "slope", "R²", "systematic noise"],
                           list(zip(*(getattr(res, k) for k in keys))))
    return (lc.llm_header("LLM noise transfer across teacher temperatures (Sections 6.2, 7.3)", cfg)
            + f"Systematic noise is relative to the base student fine-tuned directly on ground truth "
            f"(its mean noise: {fmt(res.direct_noise)}).\n\n{table}\n\n![noise transfer](noise_transfer.png)\n")
