"""Student output uncertainty (study Section 6.1): do distilled classifiers keep the teacher's
predictive entropy?

For each dataset and model class, ``replicates`` independent teachers are trained on the true
labels (each from its own initialization); each teacher's student learns its hard
pseudo-labels (the study's protocol) and, as a comparison the study did not run, another learns
its probabilities at a temperature (soft targets). Reported on the test set, averaged over
replicates: accuracy, and predictive entropy (nats) mean ± std over all / correctly /
incorrectly classified examples with counts, each model grouped by its own correctness (the
study's table); "disjoint" when the teacher's and the student's mean ± std intervals are
(the study's rule), as the share of replicates where they are.

The verdict rests on a paired comparison instead: per replicate and group of the *teacher's*
correct / incorrect test examples, the student's mean entropy minus the teacher's on the same
examples; its mean over replicates and a t-interval from their spread (so the interval covers
the randomness of teacher and student training). The margin it is held to is how much the
teacher itself moves when retrained: on each replicate's group, the next replicate's teacher's
mean entropy minus this teacher's; 1.96 times their root mean square (at least
:data:`MARGIN_FLOOR` nats). A group is judged when it holds at least :data:`MIN_EXAMPLES` test
examples over at least :data:`MIN_REPLICATES` replicates.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng, uncertainty
from jaxkd.claims import Claim, Interval
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import DATASETS, availability, check_available, load_dataset, split
from jaxkd.experiments import protocol
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, sweep
from jaxkd.students import mlp

MODELS = ("logistic", "mlp")
OFFLINE = ("digits", "wine", "breast-cancer")
GROUPS = ("all", "correct", "incorrect")
ROLES = ("teacher", "student_hard", "student_soft")
STUDENTS = ROLES[1:]
MIN_EXAMPLES, MIN_REPLICATES = 10, 5
MARGIN_FLOOR = 0.01  # nats: two near-certain models closer than this are not told apart


def _cached_extras() -> tuple[str, ...]:
    """The paper preset adds MNIST and Covertype where their caches exist."""
    return OFFLINE + tuple(d for d in ("mnist", "covertype") if availability(d)[0])


@dataclasses.dataclass(frozen=True)
class Config(Presets):
    PRESETS: ClassVar[dict] = {("quick", "*"): {"epochs": 150}, ("paper", "*"): {"datasets": _cached_extras}}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("all", "model class: all (every class in models), logistic or mlp (that class alone)",
                        choices=("all", *MODELS))
    datasets: tuple[str, ...] = option(OFFLINE, "classification datasets (see `jaxkd datasets`)")
    models: tuple[str, ...] = option(MODELS, "model classes to run when model is all", choices=MODELS)
    teacher_hidden: int = option(128, "MLP teacher's hidden width")
    student_hidden: int = option(64, "MLP students' hidden width")
    epochs: int = option(300, "training epochs of teacher and students (full batch)")
    learning_rate: float = option(0.01, "Adam learning rate")
    init: str = option("torch", "initialisation: torch (uniform ±1/sqrt(fan_in) weights and biases, the study's "
                       "scripts) or he (Kaiming-normal weights, zero biases)", choices=mlp.INITS)
    temperature: float = option(2.0, "softmax temperature of the soft-target students' teacher probabilities")
    replicates: int = option(10, "independent teacher trainings per dataset and model class, each with its "
                             "own students (the study trains one)")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(1, "seed of the stratified 80/20 train/test split (the study's scripts: 1)")

    def __post_init__(self):
        v.check_choice("model for output-entropy", self.model, ("all", *MODELS))
        if self.model != "all":  # one class: the model field decides the classes run
            object.__setattr__(self, "models", (self.model,))
        object.__setattr__(self, "datasets", v.check_grid("datasets", self.datasets, lambda n, d: d))
        for d in self.datasets:
            check_available(d)
            if not d.endswith(".csv") and DATASETS[d].task != "classification":
                raise ValueError(f"dataset {d!r} is a regression set; output-entropy needs classification.")
        object.__setattr__(self, "models", v.check_grid(
            "models", self.models, lambda n, m: v.check_choice("model class", m, MODELS)))
        v.check_int("teacher hidden width", self.teacher_hidden)
        v.check_int("student hidden width", self.student_hidden)
        v.check_int("epochs", self.epochs)
        v.check_positive("learning rate", self.learning_rate)
        v.check_choice("initialisation", self.init, mlp.INITS)
        v.check_positive("temperature", self.temperature)
        v.check_int("replicates", self.replicates, minimum=2)
        v.check_int("seed", self.seed, minimum=0)
        v.check_int("split seed", self.split_seed, minimum=0)


def entropy_summary(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and entropy mean/std/count per group (all / correct / incorrect, by this model's
    own correctness) for predicted probabilities (m, C); std with ddof 0, as the study's script."""
    h = np.asarray(uncertainty.entropy(jnp.asarray(probs)))
    correct = probs.argmax(-1) == labels
    out = {"accuracy": float(correct.mean())}
    for group, mask in (("all", np.ones_like(correct)), ("correct", correct), ("incorrect", ~correct)):
        vals = h[mask]
        out |= {f"{group}_mean": float(vals.mean()) if vals.size else np.nan,
                f"{group}_std": float(vals.std()) if vals.size else np.nan,
                f"{group}_count": int(vals.size)}
    return out


def significant(a: dict, b: dict, group: str) -> float:
    """1.0 when the mean +- std intervals of ``a`` and ``b`` are disjoint, else 0.0 (NaN if empty)."""
    lo_a, hi_a = a[f"{group}_mean"] - a[f"{group}_std"], a[f"{group}_mean"] + a[f"{group}_std"]
    lo_b, hi_b = b[f"{group}_mean"] - b[f"{group}_std"], b[f"{group}_mean"] + b[f"{group}_std"]
    if not all(np.isfinite([lo_a, hi_a, lo_b, hi_b])):
        return np.nan
    return float(hi_a < lo_b or hi_b < lo_a)


def paired_comparison(h_student: np.ndarray, h_teacher: np.ndarray, teacher_correct: np.ndarray) -> dict:
    """The paired test across replicates, per group of the teacher's test examples (all / the
    teacher correct / the teacher incorrect).

    Args:
      h_student, h_teacher: per-example entropies, (R, m): replicate r's student and teacher.
      teacher_correct: (R, m) booleans, teacher r right on each test example.

    Returns:
      Per group g: ``{g}_delta`` (mean over replicates of the student-minus-teacher mean entropy
      on teacher r's group), ``{g}_delta_low``/``_high`` (95% t-interval over the replicates
      where the group is non-empty), ``{g}_replicates`` (that count), ``{g}_examples`` (group
      sizes summed over replicates), ``{g}_retrain_rms`` (root mean square of the next
      replicate's teacher minus teacher r on teacher r's group) and ``{g}_margin``
      (``max(1.96 retrain_rms, MARGIN_FLOOR)``).
    """
    R = h_teacher.shape[0]
    out = {}
    for g, masks in (("all", np.ones_like(teacher_correct)), ("correct", teacher_correct),
                     ("incorrect", ~teacher_correct)):
        d, r_diff, examples = [], [], 0
        for r in range(R):
            mask = masks[r]
            if mask.any():
                d.append(float(np.mean(h_student[r, mask] - h_teacher[r, mask])))
                r_diff.append(float(np.mean(h_teacher[(r + 1) % R, mask] - h_teacher[r, mask])))
                examples += int(mask.sum())
        d = np.asarray(d)
        if d.size >= 2:
            half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
            delta, low, high = float(d.mean()), float(d.mean() - half), float(d.mean() + half)
            rms = float(np.sqrt(np.mean(np.square(r_diff))))
        else:
            delta = low = high = rms = np.nan
        out |= {f"{g}_delta": delta, f"{g}_delta_low": low, f"{g}_delta_high": high, f"{g}_replicates": int(d.size),
                f"{g}_examples": examples, f"{g}_retrain_rms": rms,
                f"{g}_margin": max(1.96 * rms, MARGIN_FLOOR) if np.isfinite(rms) else np.nan}
    return out


def _probs(widths, params, X, temperature=1.0):
    return np.asarray(jax.nn.softmax(mlp.predict(widths, params, X) / temperature, axis=-1))


def _point(cfg: Config, di: int, mi: int) -> dict:
    name, model = cfg.datasets[di], cfg.models[mi]
    sp = split(load_dataset(name, seed=cfg.split_seed), seed=cfg.split_seed)
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    d, C, R = X.shape[1], sp.num_classes, cfg.replicates
    widths = {"logistic": lambda h: (d, C), "mlp": lambda h: (d, h, C)}[model]
    teacher_cfg = mlp.TrainConfig(widths(cfg.teacher_hidden), "ce", cfg.learning_rate, cfg.epochs)
    # R teachers, each from its own init, all on the true labels; then each teacher's students.
    t_keys = rng.student_keys(rng.point_key(rng.stream(cfg.seed, "teacher_init"), di, mi), R)
    teachers = mlp.train_ensemble(teacher_cfg, mlp.init_ensemble(teacher_cfg.widths, t_keys, cfg.init), X, sp.y_train)
    hard = _probs(teacher_cfg.widths, teachers, X).argmax(-1)                 # (R, n)
    soft = _probs(teacher_cfg.widths, teachers, X, cfg.temperature)           # (R, n, C)
    teacher_test = _probs(teacher_cfg.widths, teachers, X_test)               # (R, m, C)
    s_keys = rng.student_keys(rng.point_key(rng.stream(cfg.seed, "init"), di, mi), R)
    probs = {"teacher": teacher_test}
    for role, loss, target in (("student_hard", "ce", hard), ("student_soft", "soft_ce", soft)):
        scfg = mlp.TrainConfig(widths(cfg.student_hidden), loss, cfg.learning_rate, cfg.epochs)
        params = mlp.train_ensemble(scfg, mlp.init_ensemble(scfg.widths, s_keys, cfg.init), X, target)
        probs[role] = _probs(scfg.widths, params, X_test)                     # (R, m, C)
    summaries = {role: [entropy_summary(p, sp.y_test) for p in probs[role]] for role in ROLES}
    out = {"num_classes": C, "test_size": int(sp.y_test.size), "replicates": R}
    for role in ROLES:  # the study's table, averaged over replicates (an empty group: NaN)
        for k in summaries[role][0]:
            vals = np.asarray([s[k] for s in summaries[role]], float)
            out[f"{role}_{k}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
        out[f"{role}_accuracy_std"] = float(np.std([s["accuracy"] for s in summaries[role]], ddof=1))
    h = {role: np.asarray(uncertainty.entropy(jnp.asarray(p))) for role, p in probs.items()}  # (R, m)
    t_correct = probs["teacher"].argmax(-1) == sp.y_test[None]
    for role in STUDENTS:
        out[f"{role}_agreement"] = float(np.mean(probs[role].argmax(-1) == probs["teacher"].argmax(-1)))
        drop = np.asarray([t["accuracy"] - s["accuracy"] for t, s in zip(summaries["teacher"], summaries[role])])
        out[f"{role}_accuracy_drop"] = float(drop.mean())
        for g in GROUPS:
            flags = [significant(t, s, g) for t, s in zip(summaries["teacher"], summaries[role])]
            flags = [f for f in flags if np.isfinite(f)]
            out[f"{role}_{g}_significant"] = float(np.mean(flags)) if flags else np.nan
        pair = paired_comparison(h[role], h["teacher"], t_correct)
        out |= {f"{role}_{k}": val for k, val in pair.items() if "retrain" not in k and "margin" not in k}
        out |= {f"teacher_{k}": val for k, val in pair.items() if "retrain" in k or "margin" in k}
    return out


def _comparison_fields() -> list[tuple[str, type]]:
    fields = [("num_classes", int), ("test_size", int), ("replicates", int)]
    for role in ROLES:
        fields += [(f"{role}_accuracy", float), (f"{role}_accuracy_std", float)]
        fields += [(f"{role}_{g}_{k}", float) for g in GROUPS for k in ("mean", "std", "count")]
    fields += [(f"teacher_{g}_{k}", float) for g in GROUPS for k in ("retrain_rms", "margin")]
    for role in STUDENTS:
        fields += [(f"{role}_agreement", float), (f"{role}_accuracy_drop", float)]
        fields += [(f"{role}_{g}_significant", float) for g in GROUPS]
        fields += [(f"{role}_{g}_{k}", float) for g in GROUPS
                   for k in ("delta", "delta_low", "delta_high", "replicates", "examples")]
    return fields


# One dataset and model class: per role (teacher, hard- and soft-label student) accuracy and the
# study's entropy table averaged over replicates, the teachers' retraining margin, and per
# student the study's overlap rule and the paired comparison (see the module docstring).
Comparison = dataclasses.make_dataclass("Comparison", _comparison_fields(), frozen=True)
Comparison.__module__ = __name__
Comparison.__doc__ = ("One dataset and model class: accuracy and the study's entropy table per role (averaged over "
                      "replicates), the teachers' retraining margin per group, and per student the study's overlap "
                      "rule (share of replicates disjoint) and the paired comparison (delta with its 95% interval).")


@dataclasses.dataclass(frozen=True)
class Results(protocol.Results):
    """Typed results: one :class:`Comparison` per "dataset-model"."""

    runs: dict[str, Comparison]

    @classmethod
    def from_json(cls, config, data: dict) -> "Results":
        return cls(config=config, runs={k: Comparison(**row) for k, row in data["runs"].items()})


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run every dataset and model class (``run_dir`` enables save/resume); typed results."""
    return Results(config=cfg, runs={key: Comparison(**row) for key, row in _columns(cfg, run_dir).items()})


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    points = [(f"{d}-{m}", (i, j)) for i, d in enumerate(cfg.datasets) for j, m in enumerate(cfg.models)]
    rows = sweep(run_dir, points, lambda p: _point(cfg, *p), desc="output-entropy")
    return {key: row for (key, _), row in zip(points, rows)}


# --- report: figures and document ----------------------------------------------------------


_ROLE_LABELS = {"teacher": "teacher", "student_hard": "student (hard labels)", "student_soft": "student (soft, T)"}


def fig_output_entropy(res: Results):
    """The study's display: per dataset (columns) and model class (rows), mean entropy ± std
    per group for the teacher and the students, averaged over replicates; under each group its
    mean size per replicate for teacher / hard / soft student ("n = 0": nobody in the group)."""
    keys = list(res.runs)
    datasets = list(dict.fromkeys(k.rsplit("-", 1)[0] for k in keys))
    models = list(dict.fromkeys(k.rsplit("-", 1)[1] for k in keys))
    fig, axes = subplots(len(models), len(datasets), figsize=(4.2 * len(datasets), 3.4 * len(models)),
                         squeeze=False, sharey="row")
    x = np.arange(len(GROUPS))
    for i, model in enumerate(models):
        for j, name in enumerate(datasets):
            ax, r = axes[i][j], res.runs.get(f"{name}-{model}")
            if r is None:
                ax.set_visible(False)
                continue
            for off, role in zip((-0.27, 0.0, 0.27), ROLES):
                mean = np.array([np.nan_to_num(_num(getattr(r, f"{role}_{g}_mean"))) for g in GROUPS])
                std = np.array([np.nan_to_num(_num(getattr(r, f"{role}_{g}_std"))) for g in GROUPS])
                ax.bar(x + off, mean, width=0.27, yerr=[np.minimum(std, mean), std], capsize=2,
                       label=_ROLE_LABELS[role])
            # Mean group size per replicate, teacher / hard / soft ("n = 0": an empty group).
            counts = ["/".join(_count(_num(getattr(r, f"{role}_{g}_count"))) for role in ROLES) for g in GROUPS]
            ax.set_xticks(x, [f"{g}\nn={c}" for g, c in zip(GROUPS, counts)], fontsize=9)
            ax.set_title(f"{name}, {model} (acc: T {fmt(r.teacher_accuracy, 3)}, S {fmt(r.student_hard_accuracy, 3)})",
                         fontsize=9)
            ax.set_ylim(bottom=0)
            if j == 0:
                ax.set_ylabel("predictive entropy (nats)\nmean ± std, by own correctness", fontsize=9)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _count(x: float) -> str:
    """A mean group size, short: whole numbers from 10 up, one decimal below."""
    return "0" if not np.isfinite(x) or x == 0 else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def fig_entropy_difference(res: Results):
    """What decides the claim: per dataset-model and group of the teacher's test examples, the
    hard-label student's mean entropy minus the teacher's, mean over replicates with its 95%
    interval, against the shaded retraining margin (±1.96 × RMS of retrained teachers'
    differences). Groups too small to judge are drawn hollow."""
    keys = list(res.runs)
    fig, axes = subplots(1, len(GROUPS), figsize=(4.2 * len(GROUPS), 0.45 * len(keys) + 1.6), sharey=True,
                         squeeze=False)
    y = np.arange(len(keys))[::-1]
    for ax, g in zip(axes[0], GROUPS):
        for yi, key in zip(y, keys):
            r = res.runs[key]
            margin = _num(getattr(r, f"teacher_{g}_margin"))
            if np.isfinite(margin):
                ax.fill_betweenx([yi - 0.35, yi + 0.35], -margin, margin, color="0.85", lw=0)
            d, lo, hi = (_num(getattr(r, f"student_hard_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
            if np.isfinite(d):
                judged = _judged(r, g)
                ax.errorbar([d], [yi], xerr=[[d - lo], [hi - d]], fmt="o", capsize=3,
                            color="C0" if judged else "0.5", mfc="C0" if judged else "white")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"{g} (teacher's groups)", fontsize=10)
        ax.set_xlabel("Δ entropy, student − teacher (nats)", fontsize=9)
    axes[0][0].set_yticks(y, keys, fontsize=9)
    fig.suptitle("Hard-label students: Δ entropy with 95% interval over replicates; grey band: retraining margin",
                 fontsize=10)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"entropy.png": fig_output_entropy(res), "entropy_difference.png": fig_entropy_difference(res)}


def _num(x) -> float:
    """A stored number, NaN for a missing one (JSON's None)."""
    return np.nan if x is None else float(x)


def _judged(r, g: str) -> bool:
    """Whether the group is large enough to judge (MIN_EXAMPLES over MIN_REPLICATES)."""
    return (_num(getattr(r, f"student_hard_{g}_examples")) >= MIN_EXAMPLES
            and _num(getattr(r, f"student_hard_{g}_replicates")) >= MIN_REPLICATES)


def _group_score(r, g: str, role: str = "student_hard"):
    """(share of margin left, its 95% low, high) for one group: ``(margin - |delta|)/margin``."""
    margin = _num(getattr(r, f"teacher_{g}_margin"))
    d, lo, hi = (_num(getattr(r, f"{role}_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
    far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
    return (margin - abs(d)) / margin, (margin - far) / margin, (margin - near) / margin


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    rows = []
    for key, r in res.runs.items():
        for role in STUDENTS:
            for g in GROUPS:
                sig = _num(getattr(r, f"{role}_{g}_significant"))
                d, lo, hi = (_num(getattr(r, f"{role}_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
                margin = _num(getattr(r, f"teacher_{g}_margin"))
                if not np.isfinite(d):
                    verdict = "empty"
                elif not _judged(r, g):
                    verdict = "too few to judge"
                else:
                    _, low, high = _group_score(r, g, role)
                    verdict = "within" if low > 0 else ("outside" if high < 0 else "undecided")
                cell = (lambda role: f"{fmt(_num(getattr(r, f'{role}_{g}_mean')), 3)} ± "
                        f"{fmt(_num(getattr(r, f'{role}_{g}_std')), 2)} (n={fmt(_num(getattr(r, f'{role}_{g}_count')), 3)})")
                rows.append([key, role.split("_")[1], g, r.teacher_accuracy, getattr(r, f"{role}_accuracy"),
                             cell("teacher"), cell(role), None if not np.isfinite(sig) else f"{fmt(100 * sig, 3)}%",
                             "n/a" if not np.isfinite(d) else f"{fmt(d, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]",
                             None if not np.isfinite(margin) else f"±{fmt(margin, 3)}",
                             f"{int(_num(getattr(r, f'{role}_{g}_examples')))} / {int(_num(getattr(r, f'{role}_{g}_replicates')))}",
                             verdict])
    table = doc.Table(["dataset-model", "student target", "group", "teacher acc", "student acc",
                       "teacher entropy (own groups)", "student entropy (own groups)", "disjoint ± std (study)",
                       "Δ entropy on the teacher's group [95%]", "retraining margin", "examples / replicates",
                       "Δ within margin"], rows)
    return doc.Section("Student output uncertainty: predictive entropy of distilled classifiers", [
        doc.Paragraph(
            f"Study Section 6.1, {cfg.replicates} replicates per dataset and model class (the study trains one "
            f"teacher and one student): each its own teacher trained on the true labels and its own students. "
            f"Teacher hidden {cfg.teacher_hidden}, student hidden {cfg.student_hidden} (MLP), {cfg.epochs} epochs of "
            f"full-batch Adam (lr {cfg.learning_rate}), {cfg.init} initialisation, stratified split with seed "
            f"{cfg.split_seed}. Hard: the student learns the teacher's argmax labels (the study). Soft: it learns "
            f"the teacher's probabilities at T = {cfg.temperature} (not in the study). Entropies, accuracies and "
            "counts are means over replicates; entropy std with ddof 0 as the study's script."),
        doc.Paragraph(
            "'disjoint ± std' is the study's rule, each model grouped by its own correctness: the share of "
            "replicates where the teacher's and the student's mean ± std intervals are disjoint. The verdict uses "
            "the paired comparison: on each replicate's teacher-correct / teacher-incorrect test examples, the "
            "student's mean entropy minus the teacher's; mean and 95% t-interval over replicates; the margin is "
            "1.96 × the root mean square of the same difference between two independently trained teachers "
            f"(at least {MARGIN_FLOOR} nats). Groups under {MIN_EXAMPLES} examples or {MIN_REPLICATES} replicates "
            "are not judged."),
        doc.Paragraph("Departures from the study's scripts: features are standardized on the training split (the "
                      "scripts standardize all rows before splitting); several replicates instead of one; the "
                      "soft-target student is jaxkd's addition."),
        table, doc.Figure("entropy.png", "predictive entropy by group (the study's display)"),
        doc.Figure("entropy_difference.png", "Δ entropy with its 95% interval against the retraining margin")])


# --- claims: what the study says this experiment shows, judged from its results ------------


def _classifiers(res: Results) -> Interval:
    """Equivalence per dataset-model and group of the teacher's test examples: the share of the
    retraining margin left, (margin − |Δ|)/margin with its interval from Δ's; the claim's
    interval is the least favourable group's (low: the smallest low; high: the smallest high)."""
    scored, small, worse, disjoint, groups = [], [], [], [], 0
    for name, r in res.runs.items():
        for g in GROUPS:
            share = _num(getattr(r, f"student_hard_{g}_significant"))
            if np.isfinite(share):
                groups += 1
                if share > 0.5:
                    disjoint.append(f"{name}/{g}")
            if not np.isfinite(_num(getattr(r, f"student_hard_{g}_delta"))):
                continue
            if not _judged(r, g):
                small.append(f"{name}/{g} ({int(_num(getattr(r, f'student_hard_{g}_examples')))} examples)")
                continue
            scored.append((*_group_score(r, g), f"{name}/{g}", r, g))
        slack = max(0.02, 1.0 / r.test_size)  # 2 points, or one test example on small sets
        if r.student_hard_accuracy_drop > slack + 1e-12:
            worse.append(f"{name} (by {fmt(100 * r.student_hard_accuracy_drop, 3)} points)")
    text = (f"{res.config.replicates} replicates each; the study's rule: {groups - len(disjoint)} of {groups} groups "
            "overlap in most replicates" + (f" (disjoint: {', '.join(disjoint)})" if disjoint else ""))
    text += (f"; accuracy drops: {', '.join(worse)}" if worse
             else "; student accuracy within 2 points (or one test example) of the teacher's, on average")
    if small:
        text += f"; too few to judge: {', '.join(small)}"
    if not scored:
        return Interval(np.nan, np.nan, np.nan, 0, text + "; no group large enough", precondition=False)
    est, low, _, where, r, g = min(scored, key=lambda q: q[1])
    high = min(q[2] for q in scored)
    text += (f"; least favourable group {where}: Δ entropy {fmt(getattr(r, f'student_hard_{g}_delta'), 3)} nats, "
             f"95% interval [{fmt(getattr(r, f'student_hard_{g}_delta_low'), 3)}, "
             f"{fmt(getattr(r, f'student_hard_{g}_delta_high'), 3)}] against a retraining margin of "
             f"±{fmt(getattr(r, f'teacher_{g}_margin'), 3)}; {sum(q[1] > 0 for q in scored)} of {len(scored)} judged "
             f"groups within the margin, {sum(q[2] < 0 for q in scored)} outside it")
    return Interval(est, low, high, res.config.replicates, text, precondition=not worse)


CLAIMS: tuple[Claim, ...] = (
    Claim("classifiers", "output", "Classifiers distilled on hard pseudo-labels keep the teacher's accuracy "
          "and predictive entropy", "over the replicates (independent teacher and student trainings), the "
          "student's accuracy is on average at most 2 points (or one test example) below the teacher's (else "
          "not reproduced); entropy kept: in every dataset, model class and group of the teacher's test "
          "examples (all / teacher correct / teacher incorrect) with at least "
          f"{MIN_EXAMPLES} examples over {MIN_REPLICATES} replicates, the 95% interval of the mean "
          "student-minus-teacher entropy lies within the retraining margin (1.96 × the RMS difference between "
          f"two independently trained teachers, at least {MARGIN_FLOOR} nats): reproduced; some interval wholly "
          "outside it: not reproduced; else inconclusive. The study's overlap rule is reported beside it",
          ("output-entropy-all",), _classifiers),
)
