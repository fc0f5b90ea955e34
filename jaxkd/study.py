"""The study as a checklist: its sections, the experiments behind each, and the empirical
claims (docs/theorems.md, "Empirical claims") judged from measured results.

Every judgment is a pure function of ``results.json`` contents and returns a
:class:`Finding`: reproduced or not, with the numbers that decided it. Thresholds are stated
in each claim's ``criterion`` so a reader can disagree with them; nothing here is tuned to make
a claim pass.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from scipy import stats

from jaxkd.formatting import fmt


@dataclasses.dataclass(frozen=True)
class Step:
    """One experiment run of the study: ``jaxkd run EXPERIMENT --model MODEL``."""

    experiment: str
    model: str
    theorems: tuple[str, ...] = ()  # docs/theorems.md results whose closed forms it draws

    @property
    def name(self) -> str:
        return f"{self.experiment}-{self.model}"


@dataclasses.dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str
    steps: tuple[Step, ...]


SECTIONS: tuple[Section, ...] = (
    Section("teacher", "Teacher output uncertainty (Section 4)",
            "A noisy teacher gives each student one sampled target per input. Linear students follow "
            "the closed forms 4.1-4.3; MLP and GPT-2 students are measured.",
            (Step("teacher-noise", "linear", ("2.2", "4.1", "4.2", "4.3")), Step("teacher-noise", "mlp"),
             Step("llm-teacher-noise", "gpt2"), Step("llm-noise-transfer", "gpt2"))),
    Section("init", "Student initialization uncertainty (Section 5)",
            "Students that differ only in their initialization (multiplicative perturbation, or the "
            "bootstrap resample that stands in for it), and the share of inter-student variance "
            "each source of randomness explains.",
            (Step("init-perturbation", "mlp"), Step("bootstrap", "linear", ("5.1", "5.2", "5.3")),
             Step("bootstrap", "mlp"),
             Step("variance-attribution", "mlp"), Step("llm-init", "gpt2"))),
    Section("output", "Student output uncertainty (Section 6, Appendix C)",
            "Does a distilled student keep its teacher's predictive spread? Classifiers on hard "
            "pseudo-labels, and language models whose answer distributions are known exactly.",
            (Step("output-entropy", "all"), Step("llm-output", "gpt2", ("C.1",)))),
    Section("variance-aware", "Variance-aware distillation (Section 7)",
            "The corrections: average k teacher responses (7.1, 7.2), and weight teacher and student "
            "estimates by inverse variance (7.3, 7.4).",
            (Step("variance-aware", "linear", ("7.1", "7.2", "7.3", "7.4")), Step("variance-aware", "mlp"),
             Step("llm-variance-aware", "gpt2"))),
)

THEOREMS: dict[str, str] = {
    "2.2": "Cov(θ̂) = σ²G⁻¹ for OLS students of a noisy teacher",
    "4.1": "inter-student variance V = σ²c, linear in teacher noise",
    "4.2": "test MSE against the teacher = σ²c",
    "4.3": "test MSE against the truth = bias + σ²c (+ τ²)",
    "5.1": "teacher-labelled bootstrap of an OLS teacher has zero variance",
    "5.2": "ground-truth bootstrap variance ≈ (τ²/b)·xᵀΣ⁻¹x, slope −1 in b",
    "5.3": "ground-truth bootstrap test MSE ≈ τ²(1 + d/b)",
    "7.1": "averaging k responses divides variance by k",
    "7.2": "the sample mean attains the Cramér-Rao bound σ²/k",
    "7.3": "inverse-variance weights minimise Var(α_T y_T + α_S y_S)",
    "7.4": "the minimum is σ_T²σ_S²/(σ_T² + σ_S²)",
    "C.1": "single-response students are narrower: E[H(p̂_k)] ≤ H(p_T), gap ≈ (K−1)/(2k)",
    "X.1": "variance of an OLS student's test MSE = (4σ²bᵀH*b + 2σ⁴tr H*²)/m², convex in σ²",
    "X.2": "ground-truth bootstrap variance on heteroscedastic data = sandwich Σ⁻¹ΩΣ⁻¹/b",
    "X.3": "bootstrap test MSE on a fixed split = MSE(full fit) + tr(X*ᵀX* Cov_b)/m",
    "S.1": "Var_s(m̄_s) − mean(w_s)/n is unbiased for the between-student variance",
}

STEPS: tuple[Step, ...] = tuple(s for sec in SECTIONS for s in sec.steps)


@dataclasses.dataclass(frozen=True)
class Finding:
    """A claim's verdict. Judged from an interval (``interval`` set): reproduced when the 95%
    interval of the deciding quantity lies on the claimed side of zero, not reproduced when it
    lies on the other side, inconclusive when it allows both; ``replicates`` says how many
    independent runs stand behind it."""

    claim: str
    reproduced: bool | None        # None: not run, or inconclusive
    evidence: str
    interval: tuple[float, float] | None = None
    replicates: int | None = None
    inconclusive: bool = False

    @property
    def status(self) -> str:
        if self.inconclusive:
            return "inconclusive"
        return {True: "reproduced", False: "not reproduced", None: "not run"}[self.reproduced]


@dataclasses.dataclass(frozen=True)
class Interval:
    """What an interval-judged claim returns: the deciding quantity's estimate, its 95%
    interval (the claim holds when the quantity is positive), how many independent replicates
    (students, or paired test examples) the interval rests on, and the evidence text. A
    ``precondition`` that fails makes the claim not reproduced whatever the interval says."""

    estimate: float
    low: float
    high: float
    replicates: int | None
    evidence: str
    precondition: bool = True

    def finding(self, claim: str) -> Finding:
        inconclusive = self.precondition and self.low <= 0.0 <= self.high
        reproduced = None if inconclusive else bool(self.precondition and self.low > 0.0)
        return Finding(claim, reproduced, self.evidence, (self.low, self.high), self.replicates, inconclusive)


@dataclasses.dataclass(frozen=True)
class Claim:
    key: str
    section: str
    claim: str
    criterion: str
    needs: tuple[str, ...]                       # Step names whose results the judgment reads
    judge: Callable[..., "tuple[bool, str] | Interval"]

    def evaluate(self, results: dict[str, dict]) -> Finding:
        if any(n not in results for n in self.needs):
            return Finding(self.claim, None, "not run: needs " + ", ".join(self.needs))
        verdict = self.judge(*(results[n] for n in self.needs))
        if isinstance(verdict, Interval):
            return verdict.finding(self.claim)
        ok, evidence = verdict
        return Finding(self.claim, bool(ok), evidence)


def _trend(x, y) -> float:
    """Spearman rank correlation of y on x (1: strictly increasing)."""
    if len(x) < 3:
        return float(np.sign(y[-1] - y[0]))
    return float(stats.spearmanr(x, y).statistic)


def _bend(a, f, se, idx) -> tuple[float, float]:
    """Normalised curvature of f over the three grid points ``idx``: (upper slope − lower slope)
    / chord slope (0 for a straight line), and its standard error by the delta method with the
    points' standard errors taken as independent (conservative when, as here, the points share
    their students' inits and so are positively correlated)."""
    a, f, se = (np.asarray(x, float)[list(idx)] for x in (a, f, se))

    def kappa(v):
        lo = (v[1] - v[0]) / (a[1] - a[0])
        hi = (v[2] - v[1]) / (a[2] - a[1])
        return (hi - lo) / ((v[2] - v[0]) / (a[2] - a[0]))

    k0 = kappa(f)
    grad = [(kappa(f + h * np.eye(3)[i]) - k0) / h for i, h in enumerate(1e-6 * np.maximum(np.abs(f), 1e-12))]
    return float(k0), float(np.sqrt(np.sum((np.asarray(grad) * se) ** 2)))


def _mlp_noise(res) -> Interval:
    a = np.asarray(res["alpha"], float)
    V, mse = np.asarray(res["inter_student_variance"]), np.asarray(res["mse_truth"])
    grows = _trend(a, V) > 0.9 and _trend(a, mse) > 0.9
    mid = int(np.argmin(np.abs(a - a[-1] / 2)))
    idx = (0, mid, len(a) - 1) if a[0] > 0 else (1, mid, len(a) - 1)  # Var(MSE) at α = 0 is ~0
    k_mlp, se_mlp = _bend(a, res["mse_truth_variance"], res["mse_truth_variance_se"], idx)
    k_lin, se_lin = _bend(a, res["linear_mse_truth_variance"], res["linear_mse_truth_variance_se"], idx)
    diff, se = k_mlp - k_lin, float(np.hypot(se_mlp, se_lin))
    lo, hi = diff - 1.96 * se, diff + 1.96 * se
    pts = ", ".join(fmt(a[i]) for i in idx)
    return Interval(diff, lo, hi, res.get("num_students"), (
        f"V {fmt(V[0])} → {fmt(V[-1])} and test MSE vs truth {fmt(mse[0])} → {fmt(mse[-1])} over α "
        f"(rank correlations {fmt(_trend(a, V), 2)}, {fmt(_trend(a, mse), 2)}); curvature of the variance of "
        f"the test MSE over α = {pts}: MLP {fmt(k_mlp, 3)} ± {fmt(se_mlp, 2)}, OLS control {fmt(k_lin, 3)} ± "
        f"{fmt(se_lin, 2)} (X.1: quadratic in σ² for OLS too); difference {fmt(diff, 3)}, 95% interval "
        f"[{fmt(lo, 3)}, {fmt(hi, 3)}]"), precondition=grows)


def _mlp_init(res) -> Interval:
    s = np.asarray(res["scale"], float)
    V, se = np.asarray(res["inter_student_variance"]), np.asarray(res["inter_student_variance_se"])
    mse = np.asarray(res["mse_truth"])
    small = np.flatnonzero((s > 0) & (s <= 0.05))
    if not small.size:
        return Interval(np.nan, np.nan, np.nan, 0, "no perturbation scale in (0, 0.05] was run", precondition=False)
    rel = np.abs(mse[small] / mse[0] - 1)
    # q = 0.01 − (V(s) − V(0)): the margin left below 1% of the target variance, worst small s.
    # The two variances share their students' inits (paired), so their SEs add conservatively.
    q = 0.01 - (V[small] - V[0])
    q_se = np.sqrt(se[small] ** 2 + se[0] ** 2)
    w = int(np.argmin(q - 1.96 * q_se))
    lo, hi = q[w] - 1.96 * q_se[w], q[w] + 1.96 * q_se[w]
    return Interval(float(q[w]), float(lo), float(hi), res.get("num_students"), (
        f"s ≤ 0.05: the perturbation adds at most {fmt((V[small] - V[0]).max())} to the inter-student variance "
        f"of {fmt(V[0])} at s = 0 (target variance 1); margin below 0.01 at s = {fmt(s[small][w])}: "
        f"{fmt(q[w], 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]; test MSE within {fmt(100 * rel.max(), 2)}% "
        f"of the unperturbed {fmt(mse[0])}"), precondition=bool(np.all(rel < 0.01)))


def _llm_init(res) -> tuple[bool, str]:
    s = np.asarray(res["scale"], float)
    V = np.asarray(res["inter_student_variance"])
    ratio = V[-1] / V[0] if V[0] > 0 else np.inf
    return ratio >= 2 and _trend(s, V) > 0.5, (
        f"inter-student variance {fmt(V[0])} at s = 0 (sampling noise only) vs {fmt(V[-1])} at "
        f"s = {fmt(s[-1])} (ratio {fmt(ratio, 3)}; rank correlation with s {fmt(_trend(s, V), 2)})")


def _bootstrap(res) -> Interval:
    b = np.asarray(res["b"])
    t, g = np.asarray(res["teacher_variance"]), np.asarray(res["truth_variance"])
    t_se, g_se = np.asarray(res["teacher_variance_se"]), np.asarray(res["truth_variance_se"])
    nonzero = bool(t[0] > 3 * t_se[0])
    shrink = bool(t[-1] < t[0] and g[-1] < g[0])
    # Deciding quantity: log(ground-truth V / teacher-labelled V) at the smallest b (> 0: smaller).
    ratio = np.log(g[0] / t[0]) if t[0] > 0 else np.inf
    se = float(np.hypot(g_se[0] / g[0], t_se[0] / t[0])) if t[0] > 0 else 0.0
    lo, hi = ratio - 1.96 * se, ratio + 1.96 * se
    return Interval(float(ratio), float(lo), float(hi), res.get("num_students"), (
        f"b = {b[0]}: teacher-labelled {fmt(t[0])} ± {fmt(t_se[0])} vs ground truth {fmt(g[0])} ± {fmt(g_se[0])}, "
        f"log ratio {fmt(ratio, 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]; b = {b[-1]}: {fmt(t[-1])} vs "
        f"{fmt(g[-1])}"), precondition=nonzero and shrink)


# classifiers: "keeps the teacher's entropy" = within 25% of the teacher's mean entropy, and never
# asked to be closer than 0.01 nats (a near-certain teacher at 0.001 nats and a student at 0.003
# are both near-certain; a relative margin alone would call that a change).
EQUIVALENCE, EQUIVALENCE_FLOOR = 0.25, 0.01


def _classifiers(res) -> Interval:
    """Equivalence from the paired intervals: per dataset-model and group (all / teacher correct /
    teacher incorrect), q = δ − |Δ|, δ = max(25% of the teacher's mean entropy there, 0.01 nats), Δ the hard-label
    student's mean entropy minus the teacher's on the same examples. Its interval is
    [δ − max(|lo|, |hi|), δ − distance of [lo, hi] from 0]; the claim's is the worst group's."""
    sig, groups, worse, qs, n_min = [], 0, [], [], None
    for name, r in res.items():
        if not isinstance(r, dict) or "teacher_accuracy" not in r:
            continue
        for g in ("all", "correct", "incorrect"):
            flag = r.get(f"student_hard_{g}_significant")
            if flag is not None:  # empty group otherwise
                groups += 1
                if flag:
                    sig.append(f"{name}/{g}")
            lo, hi = r.get(f"student_hard_{g}_paired_low"), r.get(f"student_hard_{g}_paired_high")
            if lo is None or not np.isfinite(lo):
                continue
            delta = max(EQUIVALENCE * r[f"student_hard_{g}_paired_teacher_mean"], EQUIVALENCE_FLOOR)
            far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
            qs.append((delta - far, delta - near, f"{name}/{g}", r[f"student_hard_{g}_paired_diff"], lo, hi, delta,
                       r[f"student_hard_{g}_paired_count"]))
        slack = max(0.02, 1.0 / r["test_size"])  # 2 points, or one test example on small sets
        if r["student_hard_accuracy"] < r["teacher_accuracy"] - slack - 1e-12:
            worse.append(f"{name} ({fmt(r['student_hard_accuracy'])} vs {fmt(r['teacher_accuracy'])})")
    text = f"study's rule: {groups - len(sig)} of {groups} entropy groups overlap"
    text += f" (disjoint: {', '.join(sig)})" if sig else ""
    text += (f"; accuracy drops: {', '.join(worse)}" if worse
             else "; student accuracy within 2 points (or one test example) of the teacher's")
    if not qs:
        return Interval(np.nan, np.nan, np.nan, 0, text + "; no paired groups", precondition=False)
    low = min(q[0] for q in qs)
    high = min(q[1] for q in qs)
    w = min(qs, key=lambda q: q[0])
    text += (f"; paired test, worst group {w[2]}: Δ entropy {fmt(w[3], 3)} nats, 95% interval [{fmt(w[4], 3)}, "
             f"{fmt(w[5], 3)}] against a margin of ±{fmt(w[6], 3)} ({w[7]} examples); "
             f"{sum(q[0] > 0 for q in qs)} of {len(qs)} groups within the margin, "
             f"{sum(q[1] < 0 for q in qs)} outside it")
    return Interval(low, low, high, int(w[7]), text, precondition=not worse)


def _llm_temperature(res) -> tuple[bool, str]:
    T, al = np.asarray(res["temperature"], float), np.asarray(res["alignment"])
    return _trend(T, al) < 0 and al[-1] < al[0], (
        f"alignment {fmt(al[0])} at T = {fmt(T[0])} → {fmt(al[-1])} at T = {fmt(T[-1])} "
        f"(drop {fmt(100 * (1 - al[-1] / al[0]), 3)}%)")


def _llm_narrower(out, noise) -> tuple[bool, str]:
    s_noise, t_noise = np.asarray(noise["student_noise"]), np.asarray(noise["teacher_noise"])
    ok = out["narrower_share"] > 0.5 and out["student_entropy"] < out["teacher_entropy"] and np.all(s_noise < t_noise)
    return ok, (f"answer entropy {fmt(out['student_entropy'])} (students) vs {fmt(out['teacher_entropy'])} "
                f"(teacher) nats, narrower on {fmt(100 * out['narrower_share'], 3)}% of prompts; per-prompt "
                f"noise below the teacher's at {int(np.sum(s_noise < t_noise))} of {len(s_noise)} temperatures")


def _llm_rows(res):
    """Labels and method names of llm-variance-aware's rows (k grid read back from the k
    column: direct, single, then three rows per k, then soft targets)."""
    from jaxkd.experiments.llm_variance_aware import methods

    rows = methods(tuple(res["k"][2:-1:3]))
    return [label for label, _, _ in rows], [method for _, method, _ in rows]


def _corrections(res, metric: str, better) -> tuple[bool, str, list[str]]:
    labels, methods = _llm_rows(res)
    vals = np.asarray(res[metric], float)
    single = vals[methods.index("single")]
    rows = [i for i, m in enumerate(methods) if m in ("multi", "averaging", "variance-weighting")]
    wins = [labels[i] for i in rows if better(vals[i], single)]
    return len(wins) == len(rows), f"{len(wins)} of {len(rows)} corrected targets beat single ({fmt(single)})", wins


def _llm_similarity(res) -> tuple[bool, str]:
    ok, text, wins = _corrections(res, "gt_similarity", lambda a, b: a > b)
    return ok, f"cosine to ground truth: {text}" + (f": {', '.join(wins)}" if wins else "")


def _llm_systematic(res) -> tuple[bool, str]:
    ok, text, wins = _corrections(res, "systematic_noise", lambda a, b: a < b)
    return ok, f"systematic noise: {text}" + (f": {', '.join(wins)}" if wins else "")


def _llm_vw_strongest(res) -> tuple[bool, str]:
    labels, methods = _llm_rows(res)
    sim = np.asarray(res["gt_similarity"], float)
    rows = [i for i, m in enumerate(methods) if m in ("multi", "averaging", "variance-weighting")]
    best = max(rows, key=lambda i: sim[i])
    return methods[best] == "variance-weighting", f"highest cosine to ground truth: {labels[best]} ({fmt(sim[best])})"


def _mlp_averaging(res) -> Interval:
    a, k = np.asarray(res["alpha"], float), np.asarray(res["k"])
    V, se = np.asarray(res["average_variance"]), np.asarray(res["average_variance_se"])
    parts, trend_ok, worst = [], True, None
    for alpha in np.unique(a):
        idx = np.flatnonzero(a == alpha)
        idx = idx[np.argsort(k[idx])]
        trend_ok &= bool(_trend(k[idx], V[idx]) < 0)
        # log(V at the smallest k / V at the largest k) > 0: averaging lowered the spread.
        q = np.log(V[idx[0]] / V[idx[-1]])
        q_se = float(np.hypot(se[idx[0]] / V[idx[0]], se[idx[-1]] / V[idx[-1]]))
        if worst is None or q - 1.96 * q_se < worst[0] - 1.96 * worst[1]:
            worst = (q, q_se, alpha)
        parts.append(f"α = {fmt(alpha)}: {fmt(V[idx[0]])} (k = {k[idx[0]]}) → {fmt(V[idx[-1]])} (k = {k[idx[-1]]})")
    q, q_se, alpha = worst
    lo, hi = q - 1.96 * q_se, q + 1.96 * q_se
    return Interval(float(q), float(lo), float(hi), res.get("num_students"), (
        "averaged-target MLP students' V: " + "; ".join(parts) + f"; weakest α = {fmt(alpha)}: log ratio "
        f"{fmt(q, 3)}, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}]"), precondition=trend_ok)


CLAIMS: tuple[Claim, ...] = (
    Claim("mlp-noise", "teacher", "MLP students: inter-student variance and test MSE grow with teacher noise, "
          "super-linearly", "V and MSE rank-correlate with α above 0.9 (else not reproduced); super-linear: "
          "the normalised curvature of the variance across students of the test MSE (the study's "
          "'variance') exceeds the OLS control's, which X.1 already makes convex: reproduced when the 95% "
          "interval of the difference is above 0, not reproduced when below, inconclusive otherwise",
          ("teacher-noise-mlp",), _mlp_noise),
    Claim("llm-temperature", "teacher", "LLM students: alignment with the teacher falls mildly as teacher "
          "temperature rises", "alignment rank-correlates negatively with T and ends below where it "
          "started (the drop is reported; 'mildly' is the reader's call)", ("llm-teacher-noise-gpt2",),
          _llm_temperature),
    Claim("mlp-init", "init", "Small MLPs under a deterministic teacher are insensitive to small "
          "multiplicative init perturbations", "for 0 < s ≤ 0.05: test MSE within 1% of s = 0 (else not "
          "reproduced), and the inter-student variance above its s = 0 value by less than 1% of the target "
          "variance: the 95% interval of 0.01 − (V(s) − V(0)) at the worst s above 0 (reproduced), below 0 "
          "(not reproduced), else inconclusive",
          ("init-perturbation-mlp",), _mlp_init),
    Claim("llm-init", "init", "LLM students are much more sensitive to init perturbations",
          "inter-student variance at the largest s is at least twice its s = 0 level and rises with s",
          ("llm-init-gpt2",), _llm_init),
    Claim("bootstrap", "init", "Teacher-labelled bootstrap gives non-zero but smaller variance than "
          "ground-truth bootstrap for MLP students at small b; both shrink as b grows",
          "teacher-labelled V > 3 SE at the smallest b and both V lower at the largest b (else not "
          "reproduced); smaller: 95% interval of log(ground-truth V / teacher-labelled V) at the smallest b "
          "above 0 (reproduced), below 0 (not reproduced), else inconclusive",
          ("bootstrap-mlp",), _bootstrap),
    Claim("classifiers", "output", "Classifiers distilled on hard pseudo-labels keep the teacher's accuracy "
          "and predictive entropy", "student accuracy at most 2 points (or one test example, if more) below "
          "the teacher's (else not reproduced); entropy kept: in every dataset, model class and group (all / "
          "teacher correct / teacher incorrect) the paired bootstrap 95% interval of the per-example entropy "
          "difference lies within ±max(25% of the teacher's mean entropy, 0.01 nats) (reproduced), some interval lies wholly "
          "outside it (not reproduced), else inconclusive; the study's overlap rule is reported beside it",
          ("output-entropy-all",), _classifiers),
    Claim("llm-narrower", "output", "LLM students' predictive variance is narrower than the teacher's",
          "students' answer entropy below the teacher's, narrower on most prompts, and student noise "
          "below teacher noise at every temperature", ("llm-output-gpt2", "llm-teacher-noise-gpt2"),
          _llm_narrower),
    Claim("mlp-averaging", "variance-aware", "Averaging k teacher responses lowers MLP students' "
          "inter-student variance (7.1 beyond the linear case)", "at each α V rank-correlates negatively "
          "with k (else not reproduced); at the weakest α the 95% interval of log(V at the smallest k / V at "
          "the largest k) above 0 (reproduced), below 0 (not reproduced), else inconclusive",
          ("variance-aware-mlp",), _mlp_averaging),
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


def judge(results: dict[str, dict]) -> list[tuple[Claim, Finding]]:
    """Evaluate every claim on ``results`` (step name -> results dict)."""
    return [(c, c.evaluate(results)) for c in CLAIMS]


def theorem_summary(checks: list[dict]) -> list[tuple[str, int, int]]:
    """(result id, checks passed, checks run) in docs/theorems.md order."""
    order: dict[str, list[bool]] = {}
    for c in checks:
        order.setdefault(c["result"], []).append(bool(c["passed"]))
    return [(r, sum(ok), len(ok)) for r, ok in order.items()]
