"""Student output uncertainty (study Section 6.1): do distilled classifiers keep the teacher's
predictive entropy?

For each dataset and model class, a teacher is trained on the true labels; a student is trained
on the teacher's hard pseudo-labels (the study's protocol) and, as a comparison the study did
not run, another on the teacher's probabilities at a temperature (soft targets). Reported on
the test set: accuracy, and predictive entropy (nats) mean +- std over all / correctly /
incorrectly classified examples with counts; "significant" when the teacher's and the
student's mean +- std intervals are disjoint (the study's rule).

That rule has almost no power (two spreads of per-example entropies overlap unless the models
differ wildly), so beside it jaxkd runs a paired test: per test example, the student's entropy
minus the teacher's, a paired bootstrap 95% interval of its mean (``BOOTSTRAP`` resamples of
the examples), in the groups where the *teacher* is correct / incorrect so that both sides see
the same examples.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng, uncertainty
from jaxkd.claims import Claim, Interval
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import DATASETS, availability, check_available, load_dataset, split
from jaxkd.experiments import common
from jaxkd.formatting import fmt
from jaxkd.plotting import nan_array, subplots
from jaxkd.runs import RunDir
from jaxkd.students import mlp

MODELS = ("logistic", "mlp")
OFFLINE = ("digits", "wine", "breast-cancer")
GROUPS = ("all", "correct", "incorrect")
BOOTSTRAP = 2000
ROLES = ("teacher", "student_hard", "student_soft")


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
    temperature: float = option(2.0, "softmax temperature of the soft-target students' teacher probabilities")
    num_students: int = option(1, "students per role (their statistics are averaged)", flag="--students")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(0, "seed of the 80/20 train/test split")

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
        v.check_positive("temperature", self.temperature)
        v.check_int("number of students", self.num_students, minimum=1)
        v.check_int("seed", self.seed, minimum=0)


def entropy_summary(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and entropy mean/std/count per group for predicted probabilities (m, C)."""
    h = np.asarray(uncertainty.entropy(jnp.asarray(probs)))
    correct = probs.argmax(-1) == labels
    out = {"accuracy": float(correct.mean())}
    for group, mask in (("all", np.ones_like(correct)), ("correct", correct), ("incorrect", ~correct)):
        vals = h[mask]
        out |= {f"{group}_mean": float(vals.mean()) if vals.size else np.nan,
                f"{group}_std": float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
                f"{group}_count": int(vals.size)}
    return out


def significant(a: dict, b: dict, group: str) -> float:
    """1.0 when the mean +- std intervals of ``a`` and ``b`` are disjoint, else 0.0 (NaN if empty)."""
    lo_a, hi_a = a[f"{group}_mean"] - a[f"{group}_std"], a[f"{group}_mean"] + a[f"{group}_std"]
    lo_b, hi_b = b[f"{group}_mean"] - b[f"{group}_std"], b[f"{group}_mean"] + b[f"{group}_std"]
    if not all(np.isfinite([lo_a, hi_a, lo_b, hi_b])):
        return np.nan
    return float(hi_a < lo_b or hi_b < lo_a)


def paired_difference(h_student: np.ndarray, h_teacher: np.ndarray, rng: np.random.Generator) -> dict:
    """Mean of the per-example entropy difference (student − teacher) and its paired bootstrap
    95% percentile interval: (m,), (m,) -> {diff, low, high, count} (NaN for an empty group)."""
    d = np.asarray(h_student, float) - np.asarray(h_teacher, float)
    if d.size == 0:
        return {"diff": np.nan, "low": np.nan, "high": np.nan, "count": 0}
    means = d[rng.integers(0, d.size, size=(BOOTSTRAP, d.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"diff": float(d.mean()), "low": float(low), "high": float(high), "count": int(d.size)}


def _mean_finite(values) -> float:
    vals = np.asarray(values, dtype=float)
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else np.nan


def _probs(widths, params, X, temperature=1.0):
    return np.asarray(jax.nn.softmax(mlp.predict(widths, params, X) / temperature, axis=-1))


def _point(cfg: Config, di: int, mi: int) -> dict:
    name, model = cfg.datasets[di], cfg.models[mi]
    sp = split(load_dataset(name, seed=cfg.split_seed), seed=cfg.split_seed)
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    d, C = X.shape[1], sp.num_classes
    widths = {"logistic": lambda h: (d, C), "mlp": lambda h: (d, h, C)}[model]
    teacher_cfg = mlp.TrainConfig(widths(cfg.teacher_hidden), "ce", cfg.learning_rate, cfg.epochs)
    teacher = mlp.init_ensemble(teacher_cfg.widths,
                                rng.point_key(rng.stream(cfg.seed, "teacher_init"), di, mi)[None])
    teacher = mlp.train_ensemble(teacher_cfg, teacher, X, sp.y_train)
    hard = _probs(teacher_cfg.widths, teacher, X)[0].argmax(-1)
    soft = _probs(teacher_cfg.widths, teacher, X, cfg.temperature)[0]
    student_keys = rng.student_keys(rng.point_key(rng.stream(cfg.seed, "init"), di, mi), cfg.num_students)
    teacher_test = _probs(teacher_cfg.widths, teacher, X_test)[0]
    out = {"num_classes": C, "test_size": int(sp.y_test.size),
           **{f"teacher_{k}": val for k, val in entropy_summary(teacher_test, sp.y_test).items()}}
    for role, loss, target in (("student_hard", "ce", hard), ("student_soft", "soft_ce", soft)):
        scfg = mlp.TrainConfig(widths(cfg.student_hidden), loss, cfg.learning_rate, cfg.epochs)
        params = mlp.train_ensemble(scfg, mlp.init_ensemble(scfg.widths, student_keys), X, target)
        probs = _probs(scfg.widths, params, X_test)
        # With several students, average each statistic over students.
        stats = [entropy_summary(p, sp.y_test) for p in probs]
        summary = {k: _mean_finite([s[k] for s in stats]) for k in stats[0]}
        out |= {f"{role}_{k}": val for k, val in summary.items()}
        out |= {f"{role}_agreement": float(np.mean(probs.argmax(-1) == teacher_test.argmax(-1)))}
        # Paired per-example comparison (students' entropies averaged per example first).
        h_student = np.asarray(uncertainty.entropy(jnp.asarray(probs))).mean(axis=0)
        h_teacher = np.asarray(uncertainty.entropy(jnp.asarray(teacher_test)))
        t_correct = teacher_test.argmax(-1) == sp.y_test
        boot = np.random.default_rng([cfg.seed, di, mi, ROLES.index(role)])
        for g, mask in (("all", np.ones_like(t_correct)), ("correct", t_correct), ("incorrect", ~t_correct)):
            pair = paired_difference(h_student[mask], h_teacher[mask], boot)
            out |= {f"{role}_{g}_paired_{k}": val for k, val in pair.items()}
            out[f"{role}_{g}_paired_teacher_mean"] = float(h_teacher[mask].mean()) if mask.any() else np.nan
    teacher_stats = {k[len("teacher_"):]: val for k, val in out.items() if k.startswith("teacher_")}
    for role in ROLES[1:]:
        stats = {k[len(role) + 1:]: val for k, val in out.items() if k.startswith(role + "_")}
        for g in GROUPS:
            out[f"{role}_{g}_significant"] = significant(teacher_stats, stats, g)
    return out


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One dataset and model class: the teacher's and each student's accuracy and entropy per
    group (all / correct / incorrect), the study's overlap rule and the paired test."""

    num_classes: int
    test_size: int
    teacher_accuracy: float
    teacher_all_mean: float
    teacher_all_std: float
    teacher_all_count: int
    teacher_correct_mean: float
    teacher_correct_std: float
    teacher_correct_count: int
    teacher_incorrect_mean: float
    teacher_incorrect_std: float
    teacher_incorrect_count: int
    student_hard_accuracy: float
    student_hard_all_mean: float
    student_hard_all_std: float
    student_hard_all_count: float
    student_hard_correct_mean: float
    student_hard_correct_std: float
    student_hard_correct_count: float
    student_hard_incorrect_mean: float
    student_hard_incorrect_std: float
    student_hard_incorrect_count: float
    student_hard_agreement: float
    student_hard_all_paired_diff: float
    student_hard_all_paired_low: float
    student_hard_all_paired_high: float
    student_hard_all_paired_count: int
    student_hard_all_paired_teacher_mean: float
    student_hard_correct_paired_diff: float
    student_hard_correct_paired_low: float
    student_hard_correct_paired_high: float
    student_hard_correct_paired_count: int
    student_hard_correct_paired_teacher_mean: float
    student_hard_incorrect_paired_diff: float
    student_hard_incorrect_paired_low: float
    student_hard_incorrect_paired_high: float
    student_hard_incorrect_paired_count: int
    student_hard_incorrect_paired_teacher_mean: float
    student_soft_accuracy: float
    student_soft_all_mean: float
    student_soft_all_std: float
    student_soft_all_count: float
    student_soft_correct_mean: float
    student_soft_correct_std: float
    student_soft_correct_count: float
    student_soft_incorrect_mean: float
    student_soft_incorrect_std: float
    student_soft_incorrect_count: float
    student_soft_agreement: float
    student_soft_all_paired_diff: float
    student_soft_all_paired_low: float
    student_soft_all_paired_high: float
    student_soft_all_paired_count: int
    student_soft_all_paired_teacher_mean: float
    student_soft_correct_paired_diff: float
    student_soft_correct_paired_low: float
    student_soft_correct_paired_high: float
    student_soft_correct_paired_count: int
    student_soft_correct_paired_teacher_mean: float
    student_soft_incorrect_paired_diff: float
    student_soft_incorrect_paired_low: float
    student_soft_incorrect_paired_high: float
    student_soft_incorrect_paired_count: int
    student_soft_incorrect_paired_teacher_mean: float
    student_hard_all_significant: float
    student_hard_correct_significant: float
    student_hard_incorrect_significant: float
    student_soft_all_significant: float
    student_soft_correct_significant: float
    student_soft_incorrect_significant: float


@dataclasses.dataclass(frozen=True)
class Results(common.Results):
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
    rows = common.sweep(run_dir, points, lambda p: _point(cfg, *p), desc="output-entropy")
    return {key: row for (key, _), row in zip(points, rows)}


# --- report: figures and document ----------------------------------------------------------


def fig_output_entropy(res: Results):
    """One panel per group (all / correct / incorrect test examples): mean entropy per model,
    bars of ± std clipped at 0 (entropy is non-negative)."""
    keys = list(res.runs)
    fig, axes = subplots(1, 3, figsize=(max(10.0, 3.2 * len(keys)), 4), squeeze=False)
    x = np.arange(len(keys))
    for ax, g in zip(axes[0], ("all", "correct", "incorrect")):
        for off, role, label in ((-0.25, "teacher", "teacher"), (0.0, "student_hard", "student (hard labels)"),
                                 (0.25, "student_soft", "student (soft, T)")):
            mean = nan_array([getattr(res.runs[k], f"{role}_{g}_mean") for k in keys])
            std = np.nan_to_num(nan_array([getattr(res.runs[k], f"{role}_{g}_std") for k in keys]))
            ax.bar(x + off, mean, width=0.25, yerr=[np.minimum(std, np.nan_to_num(mean)), std], capsize=2,
                   label=label)
        ax.set_xticks(x, keys, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{g} test examples")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("predictive entropy (nats), mean ± std")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"entropy.png": fig_output_entropy(res)}



def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    cfg = res.config
    rows = []
    for key, r in res.runs.items():
        for role in ("student_hard", "student_soft"):
            for g in ("all", "correct", "incorrect"):
                sig = getattr(r, f"{role}_{g}_significant")
                lo, hi = getattr(r, f"{role}_{g}_paired_low"), getattr(r, f"{role}_{g}_paired_high")
                paired = ("n/a" if lo is None or not np.isfinite(lo) else
                          f"{fmt(getattr(r, f'{role}_{g}_paired_diff'), 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}] "
                          f"(n={fmt(getattr(r, f'{role}_{g}_paired_count'))}){' *' if lo > 0 or hi < 0 else ''}")
                rows.append([key, role.split("_")[1], r.teacher_accuracy, getattr(r, f"{role}_accuracy"), g,
                             f"{fmt(getattr(r, f'teacher_{g}_mean'))} ± {fmt(getattr(r, f'teacher_{g}_std'))} (n={fmt(getattr(r, f'teacher_{g}_count'))})",
                             f"{fmt(getattr(r, f'{role}_{g}_mean'))} ± {fmt(getattr(r, f'{role}_{g}_std'))} (n={fmt(getattr(r, f'{role}_{g}_count'))})",
                             "n/a" if sig is None or not np.isfinite(sig) else ("yes" if sig else "no"), paired])
    table = doc.Table(["dataset-model", "student target", "teacher acc", "student acc", "group",
                       "teacher entropy", "student entropy", "disjoint ± std (study)",
                       "paired Δ entropy [95% CI]"], rows)
    return doc.Section("Student output uncertainty: predictive entropy of distilled classifiers", [
        doc.Paragraph(
            f"Study Section 6.1. Teacher hidden {cfg.teacher_hidden}, student hidden {cfg.student_hidden} "
            f"(MLP), {cfg.epochs} epochs of Adam (lr {cfg.learning_rate}). Hard: the student learns the "
            f"teacher's argmax labels (the study). Soft: it learns the teacher's probabilities at "
            f"T = {cfg.temperature} (not in the study). 'disjoint ± std' is the study's rule (teacher's and "
            "student's mean ± std intervals disjoint; each model grouped by its own correctness). 'paired Δ "
            "entropy' is jaxkd's test with power: per test example, student minus teacher entropy, mean and paired "
            "bootstrap 95% interval, grouped by the teacher's correctness so both sides see the same examples "
            "(* = the interval excludes 0)."),
        table, doc.Figure("entropy.png", "entropy")])


# --- claims: what the study says this experiment shows, judged from its results ------------


# classifiers: "keeps the teacher's entropy" = within 25% of the teacher's mean entropy, and never
# asked to be closer than 0.01 nats (a near-certain teacher at 0.001 nats and a student at 0.003
# are both near-certain; a relative margin alone would call that a change).
EQUIVALENCE, EQUIVALENCE_FLOOR = 0.25, 0.01


def _classifiers(res: Results) -> Interval:
    """Equivalence from the paired intervals: per dataset-model and group (all / teacher correct /
    teacher incorrect), q = δ − |Δ|, δ = max(25% of the teacher's mean entropy there, 0.01 nats), Δ the hard-label
    student's mean entropy minus the teacher's on the same examples. Its interval is
    [δ − max(|lo|, |hi|), δ − distance of [lo, hi] from 0]; the claim's is the worst group's."""
    sig, groups, worse, qs = [], 0, [], []
    for name, r in res.runs.items():
        for g in ("all", "correct", "incorrect"):
            flag = getattr(r, f"student_hard_{g}_significant")
            if flag is not None and np.isfinite(flag):  # an empty group is NaN (None once in JSON)
                groups += 1
                if flag:
                    sig.append(f"{name}/{g}")
            lo, hi = getattr(r, f"student_hard_{g}_paired_low"), getattr(r, f"student_hard_{g}_paired_high")
            if lo is None or not np.isfinite(lo):
                continue
            delta = max(EQUIVALENCE * getattr(r, f"student_hard_{g}_paired_teacher_mean"), EQUIVALENCE_FLOOR)
            far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
            qs.append((delta - far, delta - near, f"{name}/{g}", getattr(r, f"student_hard_{g}_paired_diff"), lo, hi, delta,
                       getattr(r, f"student_hard_{g}_paired_count")))
        slack = max(0.02, 1.0 / r.test_size)  # 2 points, or one test example on small sets
        if r.student_hard_accuracy < r.teacher_accuracy - slack - 1e-12:
            worse.append(f"{name} ({fmt(r.student_hard_accuracy)} vs {fmt(r.teacher_accuracy)})")
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


CLAIMS: tuple[Claim, ...] = (
    Claim("classifiers", "output", "Classifiers distilled on hard pseudo-labels keep the teacher's accuracy "
          "and predictive entropy", "student accuracy at most 2 points (or one test example, if more) below "
          "the teacher's (else not reproduced); entropy kept: in every dataset, model class and group (all / "
          "teacher correct / teacher incorrect) the paired bootstrap 95% interval of the per-example entropy "
          "difference lies within ±max(25% of the teacher's mean entropy, 0.01 nats) (reproduced), some interval lies wholly "
          "outside it (not reproduced), else inconclusive; the study's overlap rule is reported beside it",
          ("output-entropy-all",), _classifiers),
)
