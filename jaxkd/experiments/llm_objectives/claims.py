"""The claims llm-objectives judges: what the study says it shows, decided from its results."""

from __future__ import annotations

import numpy as np

from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_objectives.run import Results, row_at
from jaxkd.experiments.llm_study import measures, report, stats
from jaxkd.formatting import fmt


def _gap(res, i) -> np.ndarray:
    """Students − teacher answer entropy per replicate."""
    return np.asarray(res.student_entropy[i], float) - np.asarray(res.teacher_entropy[i], float)


def _nearest_one(res) -> float:
    temps = sorted(set(res.temperature))
    return temps[int(np.argmin(np.abs(np.asarray(temps) - 1.0)))]


def _forward_kl(res: Results) -> Interval:
    T = _nearest_one(res)
    f, s = row_at(res, T, "forward KL"), row_at(res, T, "sequence-level k=1")
    diff = np.abs(_gap(res, s)) - np.abs(_gap(res, f))
    m, lo, hi = stats.mean_interval(diff)
    spread = stats.mean_interval(np.log10(np.asarray(res.logprob_spread[s]) / np.asarray(res.logprob_spread[f])))
    return Interval(m, lo, hi, len(diff),
                    f"at T = {fmt(T)}: |students − teacher entropy|, sequence-level k=1 minus forward KL "
                    f"{stats.span(m, lo, hi)} nats (forward KL {stats.cell(_gap(res, f))}, sequence-level "
                    f"{stats.cell(_gap(res, s))}); log10 of the between-student log-prob spread, sequence-level over "
                    f"forward KL {stats.span(*spread)}; {measures.row_figures(res, [f, s])}; {report.regime_text(res)}",
                    gate=measures.decide_gate(res, [f, s]))


def _reverse_kl(res: Results) -> Interval:
    temps = sorted(set(res.temperature))
    hot, cold = row_at(res, temps[-1], "reverse KL"), row_at(res, temps[0], "reverse KL")
    m, lo, hi = stats.mean_interval(-_gap(res, hot))
    trend = stats.mean_interval(_gap(res, cold) - _gap(res, hot)) if len(temps) > 1 else (np.nan,) * 3
    return Interval(m, lo, hi, len(_gap(res, hot)),
                    f"at the flattest teacher (T = {fmt(temps[-1])}): teacher − students entropy {stats.span(m, lo, hi)} "
                    f"nats; narrower by more at T = {fmt(temps[-1])} than at T = {fmt(temps[0])}: "
                    f"{stats.span(*trend)} nats; {measures.row_figures(res, [hot, cold])}; {report.regime_text(res)}",
                    gate=measures.decide_gate(res, [hot, cold]))


def _sequence_level(res: Results) -> Interval:
    T = _nearest_one(res)
    one, three = row_at(res, T, "sequence-level k=1"), row_at(res, T, "sequence-level k=3")
    diff = np.asarray(res.student_entropy[three], float) - np.asarray(res.student_entropy[one], float)
    m, lo, hi = stats.mean_interval(diff)
    return Interval(m, lo, hi, len(diff),
                    f"at T = {fmt(T)}: student entropy, k=3 − k=1 {stats.span(m, lo, hi)} nats (C.1 predicts "
                    f"{fmt(res.c1_student_entropy[three] - res.c1_student_entropy[one])} for students that reproduce "
                    f"their samples); students − teacher: k=1 {stats.cell(_gap(res, one))}, k=3 "
                    f"{stats.cell(_gap(res, three))} (C.1: {fmt(res.c1_student_entropy[one])} and "
                    f"{fmt(res.c1_student_entropy[three])} nats against the truth's "
                    f"{fmt(float(np.mean(res.student_entropy[one]) - np.mean(res.entropy_gap[one])))}); "
                    f"{measures.row_figures(res, [one, three])}; {report.regime_text(res)}",
                    gate=measures.decide_gate(res, [one, three]))


def _jsd_monotone(res: Results) -> Interval:
    T = _nearest_one(res)
    order = ["forward KL", "JSD(0.1)", "JSD(0.5)", "JSD(0.9)", "reverse KL"]
    betas = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    rows = [row_at(res, T, lab) for lab in order]
    b = betas - betas.mean()

    def slopes_of(name):  # least-squares slope on β of each replicate's values: (R,)
        H = np.stack([np.asarray(getattr(res, name)[i], float) for i in rows])                # (5, R)
        return (H - H.mean(axis=0)).T @ b / (b @ b), H

    slopes, H = slopes_of("student_entropy")
    m, lo, hi = stats.mean_interval(-slopes)
    valid, hall = (stats.mean_interval(slopes_of(n)[0]) for n in ("valid_entropy", "hallucination"))
    return Interval(m, lo, hi, len(slopes),
                    f"at T = {fmt(T)}: least-squares slope of student entropy on β (forward KL = 0 ... reverse KL = 1) "
                    f"{stats.span(-m, -hi, -lo)} nats per unit β; entropies "
                    + ", ".join(f"{lab} {fmt(float(np.mean(h)))}" for lab, h in zip(order, H))
                    + f" (hallucinations one bucket); on the valid answers alone the slope is {stats.span(*valid)}, "
                    f"and the hallucination share's slope {stats.span(*hall)}; {measures.row_figures(res, rows)}; "
                    f"{report.regime_text(res)}", gate=measures.decide_gate(res, rows))


STEP = ("llm-objectives-gpt2",)
#: Every llm-objectives criterion ends with the gates its rows are held to.
GATES = ("; inconclusive (regime) when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%, or a "
         "row the claim reads more than 10 points above its own targets")
CLAIMS: tuple[Claim, ...] = (
    Claim("llm-objective-forward-kl", "objectives", "Forward KL on the teacher's token distribution is mean-seeking: "
          "students keep the teacher's answer entropy (closer to it than sequence-level students) and lose the "
          "teacher-sampling spread", "at the temperature nearest 1, |students − teacher answer entropy| of "
          "sequence-level (k = 1) students minus that of forward-KL students, per replicate: its 95% interval lies "
          "above 0; the between-student spread of both is reported beside" + GATES, STEP, _forward_kl, premise="converged"),
    Claim("llm-objective-reverse-kl", "objectives", "Reverse KL is mode-seeking: students narrower than the teacher, "
          "more so as the teacher is flatter", "at the highest teacher temperature, teacher − reverse-KL students' "
          "answer entropy, per replicate: its 95% interval lies above 0; the change from the lowest temperature is "
          "reported beside" + GATES, STEP, _reverse_kl, premise="converged"),
    Claim("llm-objective-sequence", "objectives", "Sequence-level KD on k samples narrows the students, less as k "
          "grows (C.1: by about (K − 1)/(2k) nats)", "at the temperature nearest 1, student answer entropy at k = 3 "
          "minus at k = 1 (equal steps), per replicate: its 95% interval lies above 0; C.1's exact expectation is "
          "reported beside" + GATES, STEP, _sequence_level, premise="converged"),
    Claim("llm-objective-jsd", "objectives", "JSD(β) lies between forward and reverse KL, its students' entropy "
          "falling as β grows", "at the temperature nearest 1, the least-squares slope of student answer entropy on "
          "β over forward KL (0), JSD(0.1, 0.5, 0.9) and reverse KL (1), per replicate: its 95% interval lies below "
          "0" + GATES, STEP, _jsd_monotone, premise="converged"),
)
