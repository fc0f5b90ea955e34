"""The study as a checklist: its sections, the experiments behind each, and the empirical
claims (docs/theorems.md, "Empirical claims") judged from measured results.

Each experiment module owns its claims (``CLAIMS``, :mod:`jaxkd.claims`); :data:`CLAIMS` here
lists them all in the study's order. Every judgment is a pure function of ``results.json``
contents and returns a :class:`~jaxkd.claims.Finding`: reproduced or not, with the numbers
that decided it. Thresholds are stated in each claim's ``criterion`` so a reader can disagree
with them; nothing is tuned to make a claim pass.
"""

from __future__ import annotations

import dataclasses

from jaxkd.claims import Claim, Finding


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


def _gather_claims() -> tuple[Claim, ...]:
    """Every experiment module's claims in the study's order; the llm-* modules' are left out
    when the llm extra is not installed (those steps cannot run then either)."""
    from jaxkd._extras import MissingExtra
    from jaxkd.experiments import registry

    found = []
    for name in registry.MODULES:
        try:
            module = registry.load(name)
        except MissingExtra:
            continue
        found += getattr(module, "CLAIMS", ())
    order = {step.name: i for i, step in enumerate(STEPS)}  # the study's order of sections and steps
    return tuple(sorted(found, key=lambda c: order[c.needs[0]]))


def __getattr__(name: str):
    if name == "CLAIMS":  # every experiment module's claims; gathered on first use (imports them)
        claims = _gather_claims()
        globals()["CLAIMS"] = claims
        return claims
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def judge(results: dict) -> list[tuple[Claim, Finding]]:
    """Evaluate every claim on ``results`` (step name -> that step's typed results)."""
    import sys

    return [(c, c.evaluate(results)) for c in sys.modules[__name__].CLAIMS]


def theorem_summary(checks: list[dict]) -> list[tuple[str, int, int]]:
    """(result id, checks passed, checks run) in docs/theorems.md order."""
    order: dict[str, list[bool]] = {}
    for c in checks:
        order.setdefault(c["result"], []).append(bool(c["passed"]))
    return [(r, sum(ok), len(ok)) for r, ok in order.items()]
