"""The claims llm-output judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_output.run import Results
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.formatting import fmt


def _llm_not_narrower(res: Results) -> Interval:
    i = int(np.argmin(np.abs(np.asarray(res.temperature) - 1.0)))
    gap = np.asarray(res.intra_variance_gap[i])
    m, lo, hi = stats.mean_interval(gap)
    pp = res.per_prompt[i]
    boot = stats.prompt_bootstrap(np.asarray(pp["student_variance"]) - np.asarray(pp["teacher_variance"]))
    h = stats.mean_interval(np.asarray(res.student_entropy[i]) - np.asarray(res.teacher_entropy[i]))
    hv = stats.mean_interval(np.asarray(res.valid_entropy[i]) - np.asarray(res.teacher_valid_entropy[i]))
    return Interval(m, lo, hi, len(gap),
                    f"at sampling T = {fmt(res.temperature[i])} on the {report.prompt_set(res)}: within-model "
                    f"embedding variance, students − teacher "
                    f"{stats.span(m, lo, hi)} over {len(gap)} replicates, prompt bootstrap "
                    f"[{fmt(boot[1], 4)}, {fmt(boot[2], 4)}]; answer entropy, students − teacher "
                    f"{stats.span(*h)} nats (hallucinations one bucket), {stats.span(*hv)} on the valid answers alone; "
                    f"students narrower on {fmt(100 * float(np.mean(res.narrower_share[i])), 3)}% of prompts; "
                    f"{measures.row_figures(res, [i])}; {report.regime_text(res)}", gate=measures.decide_gate(res, [i]))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-greedy-wider", "output", "Students distilled on the teacher's greedy answers are not narrower than "
          "the teacher (Section 6.2.1: slightly wider; C.1 does not apply to greedy supervision)",
          "at sampling temperature 1, the students' within-model embedding variance minus the teacher's (the "
          "study's Figure 10b measure, same number of samples each), per replicate: its 95% interval lies above 0 "
          "(wider); below 0 is not reproduced; answer entropy (lumped and on valid answers) beside; inconclusive "
          "(regime) when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or the students more "
          "than 10 points above their targets (the teacher's greedy answers)", ("llm-output-gpt2",), _llm_not_narrower,
          premise="regime"),
)
