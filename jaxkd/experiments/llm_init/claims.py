"""The claims llm-init judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_init.run import Results, amplification, design_problem, increments
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.formatting import fmt


def sensitivity(res: Results) -> tuple[np.ndarray, np.ndarray]:
    """At the largest s, each class's perturbation increment over its own s = 0 on its own output
    metric, as a share of that output's spread across inputs, per replicate of each class: the
    language-model students' log-prob spread over the variance across valid answers of their mean
    log-prob (R,), the MLP students' test-prediction variance over the variance across test inputs
    of their mean prediction (R_mlp,): unit-free."""
    i = int(np.argmax(res.scale))
    return (increments(res, "logprob_spread")[i] / np.asarray(res.logprob_signal[i]),
            increments(res, "mlp_variance")[i] / np.asarray(res.mlp_signal[i]))


def _llm_init(res: Results) -> Interval:
    i, zero = int(np.argmax(res.scale)), list(res.scale).index(0.0)
    g, m = sensitivity(res)
    family = res.config.family_label
    if np.any(g <= 0) or np.any(m <= 0):  # a perturbation that added nothing in some replicate: no log ratio
        who = [f"{w} students in {int(np.sum(x <= 0))} of {len(x)} replicates" for w, x in ((family, g), ("MLP", m))
               if np.any(x <= 0)]
        return Interval(float("nan"), float("nan"), float("nan"), len(g),
                        f"the perturbation added no spread over s = 0 for the {' and the '.join(who)}: no log ratio "
                        f"to judge; {report.regime_text(res)}",
                        gate="the perturbation's increment over s = 0 is not positive in every replicate")
    # The classes share no randomness (replicate r of one has nothing in common with replicate r of
    # the other), so their means are compared unpaired, each over its own replicates.
    lg, lm = np.log10(g), np.log10(m)
    est, lo, hi = stats.difference_interval(lg, lm)
    se_g, se_m = lg.std(ddof=1) / np.sqrt(lg.size), lm.std(ddof=1) / np.sqrt(lm.size)
    amp_g = np.log10(amplification(res.spread_before[i], res.spread_after[i]))
    amp_m = np.log10(amplification(res.mlp_spread_before[i], res.mlp_spread_after[i]))
    drop = stats.mean_interval(-increments(res, "alignment")[i])
    disagree = stats.mean_interval(increments(res, "greedy_disagreement")[i])
    whole = "" if res.config.rung is None else ", over its whole run: parameters are kept only where it ended"
    return Interval(est, lo, hi, len(g),
                    f"at s = {fmt(res.scale[i])}, over each class's own s = 0 (one shared init per replicate in both "
                    f"classes): the perturbation adds {fmt(10 ** lg.mean(), 3)} of the output's spread across inputs "
                    f"for {family} students (log-prob spread of the valid answers, no floor; {lg.size} replicates) "
                    f"and {fmt(10 ** lm.mean(), 3)} for MLP students (test-prediction variance; {lm.size} replicates; "
                    f"geometric means); log10 ratio {family} − MLP {stats.span(est, lo, hi)} (Welch, unpaired: the "
                    f"classes share no randomness; standard errors {fmt(se_g, 2)} from the {family} replicates, "
                    f"{fmt(se_m, 2)} from the MLP's); the study's measures beside: alignment falls by "
                    f"{stats.span(*drop)} and greedy disagreement rises by {stats.span(*disagree)}; training "
                    f"multiplies the parameter spread by {fmt(10 ** amp_g.mean(), 3)} ({family}{whole}) and "
                    f"{fmt(10 ** amp_m.mean(), 3)} (MLP); {measures.row_figures(res, [zero, i])}; "
                    f"{report.regime_text(res)}",
                    gate=design_problem(res) or measures.decide_gate(res, [zero, i]), power_stated=True)


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations (than small MLPs)",
          "at the largest s, per replicate, both classes with one init shared by a replicate's students: log10 of "
          "the language-model students' increment over s = 0 in output spread (teacher-forced log-prob of the valid "
          "answers, no sampling floor) as a share of the spread of that log-prob across answers, minus log10 of the "
          "MLP students' increment over s = 0 in test-prediction variance as a share of the variance of their mean "
          "prediction across test inputs, each class's mean over its own replicates: its 95% Welch interval lies "
          "above 0; alignment and greedy disagreement (the "
          "study's measures) and the parameter spread's amplification beside; inconclusive (regime) when the "
          "teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or a deciding row hallucinates more "
          "than 10 points above its targets", ("llm-init-gpt2",), _llm_init, premise="regime"),
)
