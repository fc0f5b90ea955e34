"""The computation of llm-noise-transfer: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd.experiments.llm_noise_transfer.config import Config
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.llm import metrics as tm
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per teacher temperature; measures per replicate)."""

    temperature: tuple[float, ...]
    direct_systematic_noise: tuple[tuple[float, ...], ...]
    direct_hallucination: tuple[tuple[float, ...], ...]
    direct_noise: float


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    direct = replicates.direct_reference(task)

    def point(T):
        out = replicates.distil_at_temperature(task, T)
        return {"temperature": T, **measures.measure(task, out, replicates.teacher_reference(task, T), direct=direct),
                "passes": float(out.compute.epochs), "steps": out.compute.steps}

    rows = sweep(run_dir, [(f"T-{i:02d}", T) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-noise-transfer")
    d = measures.embed(task, direct.samples.at(1.0))
    return {**columns(rows), "direct_noise": float(np.mean([tm.pairwise_cosine_distance(e) for e in d])),
            **measures.regime(task)}
