"""The claims llm-init judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_init.run import Results, amplification, design_problem, increments
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.formatting import fmt


def sensitivity(res: Results) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, at the largest s, each class's perturbation increment over its own s = 0 on
    its own output metric, as a share of that output's spread across inputs: the language-model
    students' log-prob spread over the variance across valid answers of their mean log-prob, the
    MLP students' test-prediction variance over the variance across test inputs of their mean
    prediction: two (R,) arrays, unit-free."""
    i = int(np.argmax(res.scale))
    return (increments(res, "logprob_spread")[i] / np.asarray(res.logprob_signal[i]),
            increments(res, "mlp_variance")[i] / np.asarray(res.mlp_signal[i]))


def _llm_init(res: Results) -> Interval:
    i, zero = int(np.argmax(res.scale)), list(res.scale).index(0.0)
    g, m = sensitivity(res)
    if np.any(g <= 0) or np.any(m <= 0):  # a perturbation that added nothing in some replicate: no log ratio
        who = [w for w, x in ((res.config.family_label, g), ("MLP", m)) if np.any(x <= 0)]
        return Interval(float("nan"), float("nan"), float("nan"), len(g),
                        f"the perturbation added no spread over s = 0 for the {' and '.join(who)} students in "
                        f"{int(np.sum((g <= 0) | (m <= 0)))} of {len(g)} replicates: no log ratio to judge; "
                        f"{report.regime_text(res)}",
                        gate="the perturbation's increment over s = 0 is not positive in every replicate")
    est, lo, hi = stats.mean_interval(np.log10(g) - np.log10(m))
    amp_g = np.log10(amplification(res.spread_before[i], res.spread_after[i]))
    amp_m = np.log10(amplification(res.mlp_spread_before[i], res.mlp_spread_after[i]))
    drop = stats.mean_interval(-increments(res, "alignment")[i])
    disagree = stats.mean_interval(increments(res, "greedy_disagreement")[i])
    family = res.config.family_label
    whole = "" if res.config.rung is None else ", over its whole run: parameters are kept only where it ended"
    return Interval(est, lo, hi, len(g),
                    f"at s = {fmt(res.scale[i])}, over each class's own s = 0 (one shared init per replicate in both "
                    f"classes): the perturbation adds {fmt(10 ** np.log10(g).mean(), 3)} of the output's spread "
                    f"across inputs for {family} students (log-prob spread of the valid answers, no floor) and "
                    f"{fmt(10 ** np.log10(m).mean(), 3)} for MLP students (test-prediction variance; geometric means); "
                    f"log10 ratio {family} − MLP {stats.span(est, lo, hi)} over {len(g)} replicates; the study's "
                    f"measures beside: alignment falls by {stats.span(*drop)} and greedy disagreement rises by "
                    f"{stats.span(*disagree)}; training multiplies the parameter spread by {fmt(10 ** amp_g.mean(), 3)} "
                    f"({family}{whole}) and {fmt(10 ** amp_m.mean(), 3)} (MLP); {measures.row_figures(res, [zero, i])}; "
                    f"{report.regime_text(res)}",
                    gate=design_problem(res) or measures.decide_gate(res, [zero, i]))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations (than small MLPs)",
          "at the largest s, per replicate, both classes with one init shared by a replicate's students: log10 of "
          "the language-model students' increment over s = 0 in output spread (teacher-forced log-prob of the valid "
          "answers, no sampling floor) as a share of the spread of that log-prob across answers, minus log10 of the "
          "MLP students' increment over s = 0 in test-prediction variance as a share of the variance of their mean "
          "prediction across test inputs: its 95% interval lies above 0; alignment and greedy disagreement (the "
          "study's measures) and the parameter spread's amplification beside; inconclusive (regime) when the "
          "teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or a deciding row hallucinates more "
          "than 10 points above its targets", ("llm-init-gpt2",), _llm_init, premise="regime"),
)
