"""The claims llm-init judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_init.run import Results, amplification
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.formatting import fmt


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
    family = res.config.family_label
    return Interval(est, lo, hi, len(g),
                    f"at s = {fmt(res.scale[i])}: the spread a perturbation causes, relative to the spread teacher "
                    f"randomness causes, is {fmt(10 ** np.log10(g).mean(), 3)} for {family} students (log-prob spread, "
                    f"no floor) and {fmt(10 ** np.log10(m).mean(), 3)} for MLP students (test-prediction variance); "
                    f"log10 ratio {family} − MLP {stats.span(est, lo, hi)} over {len(g)} replicates; training "
                    f"multiplies the parameter spread by {fmt(10 ** amp_g.mean(), 3)} ({family}) and "
                    f"{fmt(10 ** amp_m.mean(), 3)} (MLP); {report.regime_text(res)}", gate=measures.gate(res))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations (than small MLPs)",
          "at the largest s, per replicate: log10 of the language-model students' output spread (teacher-forced log-prob of "
          "the valid answers, no sampling floor) over the spread their teacher's sampled answers cause, minus log10 "
          "of the MLP students' test-prediction variance over the variance teacher noise at α = 1 causes: its 95% "
          "interval lies above 0; inconclusive (regime) when the teacher at T = 1 or the direct fine-tune "
          "hallucinates more than 10%", ("llm-init-gpt2",), _llm_init),
)
