"""The claims llm-teacher-noise judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.experiments.llm_teacher_noise.run import Results
from jaxkd.formatting import fmt


def _slopes(T, per_point) -> np.ndarray:
    """Least-squares slope on T of each replicate's values: per_point (points, R) -> (R,)."""
    y = np.asarray(per_point, float).T
    t = np.asarray(T, float) - np.mean(T)
    return (y - y.mean(axis=1, keepdims=True)) @ t / (t @ t)


def _llm_temperature(res: Results) -> Interval:
    slopes = _slopes(res.temperature, res.alignment)
    m, lo, hi = stats.mean_interval(-slopes)
    al = res.means("alignment")
    # The control: how far the targets themselves are from the greedy answer at each T.
    control = _slopes(res.temperature, res.teacher_sample_alignment)
    c = stats.mean_interval(control)
    share = stats.mean_interval(slopes / control)
    ta = res.means("teacher_sample_alignment")
    rows = list(range(len(res.temperature)))
    return Interval(m, lo, hi, len(slopes),
                    f"alignment (students' greedy answers vs the teacher's greedy answer) {fmt(al[0])} at T = "
                    f"{fmt(res.temperature[0])} → {fmt(al[-1])} at T = {fmt(res.temperature[-1])}; slope per unit T "
                    f"{fmt(-m)}, 95% interval [{fmt(-hi)}, {fmt(-lo)}] over {len(slopes)} replicates; the control, the "
                    f"teacher's own samples at T vs its greedy answer (the targets): {fmt(ta[0])} → {fmt(ta[-1])}, "
                    f"slope {stats.span(*c)}; the students' slope is {stats.span(*share, digits=3)} of the targets' "
                    f"(the study's \"mildly\" has no threshold and is not judged); {measures.row_figures(res, rows)}; "
                    f"{report.regime_text(res)}", gate=measures.decide_gate(res, rows))


def near_one(res) -> int:
    """The grid point whose temperature is closest to 1."""
    return int(np.argmin(np.abs(np.asarray(res.temperature) - 1.0)))


def _llm_narrower(res: Results) -> Interval:
    i = near_one(res)
    gap = np.asarray(res.teacher_entropy[i]) - np.asarray(res.student_entropy[i])
    m, lo, hi = stats.mean_interval(gap)
    pp = res.per_prompt[i]
    boot = stats.prompt_bootstrap(np.asarray(pp["teacher_entropy"]) - np.asarray(pp["student_entropy"]))
    var = stats.mean_interval(-np.asarray(res.intra_variance_gap[i]))
    share = [float(np.mean(x)) for x in res.variance_share]
    valid = stats.mean_interval(np.asarray(res.teacher_valid_entropy[i]) - np.asarray(res.valid_entropy[i]))
    return Interval(m, lo, hi, len(gap),
                    f"at T = {fmt(res.temperature[i])} on the {report.prompt_set(res)}: answer entropy (hallucinations "
                    f"one bucket), teacher − students (same number of samples each) {stats.span(m, lo, hi)} nats over "
                    f"{len(gap)} replicates, prompt bootstrap [{fmt(boot[1], 4)}, {fmt(boot[2], 4)}]; on the valid "
                    f"answers alone {stats.span(*valid)} nats; within-model embedding variance, teacher − students "
                    f"{stats.span(*var)}; students narrower on {fmt(100 * float(np.mean(res.narrower_share[i])), 3)}% "
                    f"of prompts; Table 2's share per T: "
                    + ", ".join(f"{fmt(100 * x, 3)}% at {fmt(T)}" for x, T in zip(share, res.temperature))
                    + f"; {measures.row_figures(res, [i])}; {report.regime_text(res)}",
                    gate=measures.decide_gate(res, [i]))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-temperature", "teacher", "LLM students: alignment with the teacher falls as teacher temperature "
          "rises (the study: mildly)", "the least-squares slope of alignment (students' greedy answers against the "
          "teacher's greedy answer) on T, per replicate: its 95% interval lies below 0; the control beside (the "
          "teacher's own samples against its greedy answer, what the students were trained on), and the students' "
          "slope as a share of it; \"mildly\" is not judged (the study gives no threshold); inconclusive (regime) "
          "when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or any temperature's "
          "students more than 10 points above their targets",
          ("llm-teacher-noise-gpt2",), _llm_temperature, premise="regime"),
    Claim("llm-narrower", "teacher", "LLM students' predictive distribution is narrower than the teacher's "
          "(each student trained on its own sampled answers: Section 4.3, Table 2, C.1)",
          "at the temperature nearest 1, the teacher's answer entropy minus the students' (both from the same "
          "number of samples on the evaluation prompts, hallucinations one bucket), per replicate: its 95% interval "
          "lies above 0; the same on the valid answers alone, the prompt bootstrap, the embedding-variance gap and "
          "Table 2's share are reported beside it; inconclusive (regime) when the teacher at T = 1 or the direct "
          "fine-tune hallucinates more than 10%, or the students more than 10 points above their targets",
          ("llm-teacher-noise-gpt2",), _llm_narrower, premise="regime"),
)
