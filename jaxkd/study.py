"""The study as one table: its experiments (:data:`EXPERIMENTS`, each a typed
:class:`~jaxkd.experiments.experiment.Experiment` record naming its package), its sections and
the steps behind each (:data:`SECTIONS`, :data:`STEPS`), the results of docs/theorems.md
(:data:`THEOREMS`), and the empirical claims (docs/theorems.md, "Empirical claims") judged from
measured results.

Nothing here imports JAX: the command line builds its parser from this table. Each
experiment's ``claims.py`` owns its claims (:mod:`jaxkd.claims`); :data:`CLAIMS` lists them all
in the study's order (imported on first use). Every judgment is a pure function of ``results.json``
contents and returns a :class:`~jaxkd.claims.Finding`: reproduced or not, with the numbers
that decided it. Thresholds are stated in each claim's ``criterion`` so a reader can disagree
with them; nothing is tuned to make a claim pass.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

from jaxkd.experiments.experiment import Experiment

if TYPE_CHECKING:  # the claims' statistics import scipy: not for the command line's parser
    from jaxkd.claims import Claim, Finding

#: Every experiment by name, in the study's order.
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("teacher-noise", "jaxkd.experiments.teacher_noise"),
    Experiment("init-perturbation", "jaxkd.experiments.init_perturbation"),
    Experiment("bootstrap", "jaxkd.experiments.bootstrap"),
    Experiment("output-entropy", "jaxkd.experiments.output_entropy"),
    Experiment("variance-aware", "jaxkd.experiments.variance_aware"),
    Experiment("variance-attribution", "jaxkd.experiments.variance_attribution"),
    Experiment("objectives", "jaxkd.experiments.objectives"),
    Experiment("llm-teacher-noise", "jaxkd.experiments.llm_teacher_noise", extra="llm"),
    Experiment("llm-init", "jaxkd.experiments.llm_init", extra="llm"),
    Experiment("llm-output", "jaxkd.experiments.llm_output", extra="llm"),
    Experiment("llm-variance-aware", "jaxkd.experiments.llm_variance_aware", extra="llm"),
    Experiment("llm-noise-transfer", "jaxkd.experiments.llm_noise_transfer", extra="llm"),
    Experiment("llm-objectives", "jaxkd.experiments.llm_objectives", extra="llm"),
    Experiment("llm-topk", "jaxkd.experiments.llm_topk", extra="llm"),
)}


@dataclasses.dataclass(frozen=True)
class Step:
    """One experiment run of the study: ``jaxkd run EXPERIMENT --model MODEL``."""

    experiment: str
    model: str
    theorems: tuple[str, ...] = ()  # docs/theorems.md results whose closed forms it draws
    optional: bool = False          # run by `reproduce` only when --only names it (too long for the default run)

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
    Section("objectives", "Beyond the study: which distillation objective keeps the teacher's uncertainty?",
            "The study chooses targets (one sample, k samples, averages); distillation today chooses "
            "objectives: forward KL on soft targets, reverse KL, the generalised JSD(β) between them. "
            "Classifiers distilled with each, over seeds, against the teacher's entropy and calibration; "
            "theory X.4-X.7 says what a student that can or cannot represent its teacher should do.",
            (Step("objectives", "all"), Step("llm-objectives", "gpt2", optional=True),
             Step("llm-topk", "gpt2", ("X.8", "X.9"), optional=True))),
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
    "X.4": "a free categorical student reaches its target under every objective (entropy gap 0)",
    "X.5": "forward KL at a stationary point: mean H(q) − mean H(p) = mean KL(p‖q) ≥ 0",
    "X.6": "sequence-level KD, lumped-tail student: C.1 on r + 1 cells, gap ≈ r/(2k)",
    "X.7": "lumped-tail student: head ∝ teacher, tail mass falls monotonically in β (AM → GM)",
    "X.8": "top-k + tail bucket: tail gradients ∝ q_a, tail mass → teacher's, shape kept; excess r(log(V−k) − H(tail))",
    "X.9": "renormalised top-k: the student's tail mass → 0, its entropy → that of the renormalised head",
    "S.1": "Var_s(m̄_s) − mean(w_s)/n is unbiased for the between-student variance",
}

STEPS: tuple[Step, ...] = tuple(s for sec in SECTIONS for s in sec.steps)


def _gather_claims() -> tuple[Claim, ...]:
    """Every experiment's claims in the study's order; those of experiments whose extra is not
    installed are left out (those steps cannot run then either)."""
    found = []
    for experiment in EXPERIMENTS.values():
        if experiment.available:
            found += experiment.CLAIMS
    order = {step.name: i for i, step in enumerate(STEPS)}  # the study's order of sections and steps
    return tuple(sorted(found, key=lambda c: order[c.needs[0]]))


def __getattr__(name: str):
    if name == "CLAIMS":  # every experiment's claims; gathered on first use (imports them)
        claims = _gather_claims()
        globals()["CLAIMS"] = claims
        return claims
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: What each claim premise decides at, in words (:attr:`jaxkd.claims.Claim.premise`).
PREMISES = {"config": "the config's budget", "regime": "the least-trained fit whose rows answer validly, the "
            "nearest to the study's regime", "converged": "the most-trained fit: the theorem's premise"}


def _level(claim: Claim, results: dict) -> float:
    """How far the students a claim reads had trained (the config's ``fit_level``; 1 without one)."""
    levels = [getattr(results[n].config, "fit_level", 1.0) for n in claim.needs if n in results]
    return min(levels) if levels else 1.0


def _deciding_fit(claim: Claim, fits: list) -> int:
    """The index into ``fits`` (label, finding, fit level) that decides ``claim`` by its premise:
    the config's own (the first), the most-trained, or the least-trained one not gated
    ("inconclusive (regime)"; the most-trained when every fit is)."""
    order = sorted(range(len(fits)), key=lambda i: fits[i][2])
    if claim.premise == "converged":
        return order[-1]
    if claim.premise == "regime":
        valid = [i for i in order if fits[i][1].reason != "regime"]
        return valid[0] if valid else order[-1]
    return 0


def judge(results: dict, refits: dict | None = None) -> list[tuple[Claim, Finding]]:
    """Evaluate every claim on ``results`` (step name -> that step's typed results); the claims of
    an optional step that did not run are left out (they are not part of the default study).

    ``refits`` (step name -> {label: typed results at another training budget}) re-judges every
    claim that reads such a step at each of its other fits, the deciding step's results replaced
    by the refit's (:func:`jaxkd.claims.across_fits`): fits that disagree between reproduced and
    not reproduced make the verdict "inconclusive (budget)".
    """
    from jaxkd.claims import across_fits

    refits = refits or {}
    optional = {s.name for s in STEPS if s.optional}
    out = []
    for c in sys.modules[__name__].CLAIMS:
        if set(c.needs) & optional and not all(n in results for n in c.needs):
            continue
        finding = c.evaluate(results)
        labels = list(dict.fromkeys(label for n in c.needs if n in results for label in refits.get(n, {})))
        deciding = ", ".join(f"{n} {results[n].config.fit_label}" for n in c.needs
                             if n in results and results[n].config.fit_label)
        fits = [(deciding, finding, _level(c, results))]
        for label in labels:
            swapped = {**results, **{n: refits[n][label] for n in c.needs if label in refits.get(n, {})}}
            said = ", ".join(f"{n} {refits[n][label].config.fit_label}" for n in c.needs
                             if label in refits.get(n, {}))
            fits.append((f"{label}: {said}", c.evaluate(swapped), _level(c, swapped)))
        chosen = _deciding_fit(c, fits)
        others = [(label, f) for i, (label, f, _) in enumerate(fits) if i != chosen]
        ladder = None
        if c.premise != "config":
            ladder = [(label, f) for label, f, _ in sorted(fits, key=lambda x: x[2])]
        label, decided, _ = fits[chosen]
        found = across_fits(decided, f"{label} ({PREMISES[c.premise]})" if ladder else label, others, ladder)
        if ladder and found.fits:
            levels = [fits[chosen][2], *(lv for i, (_, _, lv) in enumerate(fits) if i != chosen)]
            found = dataclasses.replace(found, fits=tuple(dataclasses.replace(v, level=lv)
                                                          for v, lv in zip(found.fits, levels)))
        out.append((c, found))
    return out

