"""Variance-aware LLM distillation (study Section 7.3, Appendix F).

From the same teacher samples (temperature 1), students are distilled with: a direct
fine-tune on ground truth (the reference), single-response targets, and for each k the
multi-response, averaging and variance-weighting targets (:mod:`jaxkd.llm.selection`), plus
token-level soft targets (not in the study). All methods train the same number of steps on the
same batch size; the pairs and training tokens each saw are recorded so methods can also be
compared at equal compute. Measured: cosine to ground-truth answers (and its inter-student
variance), noise slope and R^2, average noise, average systematic noise.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.claims import Claim
from jaxkd.config import option
from jaxkd.experiments import common, llm_common as lc
from jaxkd.formatting import fmt, markdown_table
from jaxkd.llm import selection
from jaxkd.runs import RunDir

MODELS = lc.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(lc.LLMConfig):
    PRESETS: ClassVar[dict] = lc.paper()

    ks: tuple[int, ...] = option((3, 5), "teacher responses per prompt k (at least 2)")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "ks", v.check_grid("k", self.ks, lambda n, k: v.check_int(n, k, minimum=2)))


def methods(ks) -> list[tuple[str, str, int]]:
    """(label, method, k) rows of the table, in order, for the k grid ``ks``."""
    rows = [("direct fine-tune", "direct", 0), ("single", "single", 1)]
    for k in ks:
        rows += [(f"multi-response k={k}", "multi", k), (f"averaging k={k}", "averaging", k),
                 (f"variance-weighting k={k}", "variance-weighting", k)]
    return rows + [("soft targets (token KD)", "soft", 1)]


@dataclasses.dataclass(frozen=True)
class Results(lc.SweepResults):
    """Typed results (per method row (direct, single, then multi/averaging/variance-weighting per k, soft))."""

    method_index: tuple[int, ...]
    k: tuple[int, ...]
    systematic_noise: tuple[float, ...]
    steps: tuple[int, ...]
    training_tokens: tuple[int, ...]
    pairs: tuple[int, ...]


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = lc.build_task(cfg, None if run_dir is None else run_dir.shared)
    kmax = max(cfg.ks)
    teacher_texts = lc.sample_model(task, task.teacher, kmax, 1.0, rng.stream(cfg.seed, "teacher_sampling"))
    teacher_embs = lc.embed(task, teacher_texts)
    base_embs = lc.embed(task, lc.sample_model(task, task.base, cfg.samples, 1.0, rng.stream(cfg.seed, "base_eval")))
    t_eval = lc.embed(task, lc.sample_model(task, task.teacher, cfg.samples, 1.0, rng.stream(cfg.seed, "teacher_eval")))
    order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.num_students)
    # The reference: the base student fine-tuned directly on ground truth (deterministic, so a
    # resumed run recomputes the same numbers); systematic noise is measured against it.
    direct_embs, direct_noise = lc.direct_reference(task)

    def point(p):
        i, (label, method, k) = p
        if method == "direct":
            compute = {"steps": cfg.student_steps, "training_tokens": 0, "pairs": 0}
            s_embs = direct_embs
        else:
            kk = max(k, 1)
            pairs = selection.select(method, [t[:kk] for t in teacher_texts], teacher_embs[:, :kk], base_embs)
            students = lc.train_students(task, pairs, order, soft_targets=(method == "soft"))
            compute = students.compute
            s_embs = lc.embed(task, lc.sample_students(
                task, students, cfg.samples, 1.0, rng.point_key(rng.stream(cfg.seed, "student_eval"), i)))
        return {"method_index": i, "k": k, **lc.summarize(task, s_embs, t_eval, direct_noise=direct_noise),
                **compute}

    points = [(f"m-{i:02d}", (i, row)) for i, row in enumerate(methods(cfg.ks))]
    return common.columns(common.sweep(run_dir, points, point, desc="llm-variance-aware"))


# --- report: figures and markdown ----------------------------------------------------------


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the markdown refers to them)."""
    return {}



def markdown(res: Results) -> str:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config

    labels = [m[0] for m in methods(cfg.ks)]
    rows = [[labels[i], f"{fmt(res.gt_similarity[i])} ({fmt(res.gt_similarity_variance[i])})",
             res.noise_slope[i], res.noise_r2[i], res.student_noise[i], res.systematic_noise[i],
             res.hallucination[i], res.pairs[i], res.training_tokens[i]]
            for i in range(len(labels))]
    table = markdown_table(["method", "cos GT (inter-student var)", "noise slope", "R²", "avg noise",
                            "avg systematic noise", "halluc.", "distinct pairs", "training tokens"], rows)
    return (lc.llm_header("Variance-aware LLM distillation (Section 7.3, App. F)", cfg)
            + "Every method trains the same number of steps at the same batch size; 'distinct pairs' and "
            "'training tokens' give the compute each saw.\n\n" + f"{table}\n")


# --- claims: what the study says this experiment shows, judged from its results ------------


def _llm_rows(res):
    """Labels and method names of llm-variance-aware's rows (k grid read back from the k
    column: direct, single, then three rows per k, then soft targets)."""
    from jaxkd.experiments.llm_variance_aware import methods

    rows = methods(tuple(res.k[2:-1:3]))
    return [label for label, _, _ in rows], [method for _, method, _ in rows]


def _corrections(res, metric: str, better) -> tuple[bool, str, list[str]]:
    labels, methods = _llm_rows(res)
    vals = np.asarray(getattr(res, metric), float)
    single = vals[methods.index("single")]
    rows = [i for i, m in enumerate(methods) if m in ("multi", "averaging", "variance-weighting")]
    wins = [labels[i] for i in rows if better(vals[i], single)]
    return len(wins) == len(rows), f"{len(wins)} of {len(rows)} corrected targets beat single ({fmt(single)})", wins


def _llm_similarity(res: Results) -> tuple[bool, str]:
    ok, text, wins = _corrections(res, "gt_similarity", lambda a, b: a > b)
    return ok, f"cosine to ground truth: {text}" + (f": {', '.join(wins)}" if wins else "")


def _llm_systematic(res: Results) -> tuple[bool, str]:
    ok, text, wins = _corrections(res, "systematic_noise", lambda a, b: a < b)
    return ok, f"systematic noise: {text}" + (f": {', '.join(wins)}" if wins else "")


def _llm_vw_strongest(res: Results) -> tuple[bool, str]:
    labels, methods = _llm_rows(res)
    sim = np.asarray(res.gt_similarity, float)
    rows = [i for i, m in enumerate(methods) if m in ("multi", "averaging", "variance-weighting")]
    best = max(rows, key=lambda i: sim[i])
    return methods[best] == "variance-weighting", f"highest cosine to ground truth: {labels[best]} ({fmt(sim[best])})"


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-similarity", "variance-aware", "Multi-response, averaging and variance-weighting raise "
          "LLM students' similarity to the ground truth", "every corrected method's mean cosine to the "
          "ground-truth answers exceeds single-response distillation's", ("llm-variance-aware-gpt2",),
          _llm_similarity),
    Claim("llm-systematic", "variance-aware", "... and reduce their systematic noise",
          "every corrected method's systematic noise is below single-response distillation's",
          ("llm-variance-aware-gpt2",), _llm_systematic),
    Claim("llm-vw", "variance-aware", "... with variance-weighting strongest", "the corrected method with "
          "the highest cosine to ground truth is a variance-weighting row", ("llm-variance-aware-gpt2",),
          _llm_vw_strongest),
)
