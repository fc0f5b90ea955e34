"""The computation of output-entropy: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from jaxkd import rng, uncertainty
from jaxkd.data import load_dataset, split
from jaxkd.experiments import fit
from jaxkd.experiments import results as base
from jaxkd.experiments.output_entropy.config import Config
from jaxkd.runs import RunDir, sweep
from jaxkd.students import mlp

GROUPS = ("all", "correct", "incorrect")
ROLES = ("teacher", "student_hard", "student_soft")
STUDENTS = ROLES[1:]
# A group is judged when it holds at least MIN_EXAMPLES test examples per replicate on average,
# over at least MIN_REPLICATES replicates (smaller ones are reported, not judged).
MIN_EXAMPLES, MIN_REPLICATES = 10, 5
MARGIN_FLOOR = 0.01  # nats: two near-certain models closer than this are not told apart


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
    t_keys = rng.student_keys(rng.cell_key(rng.stream(cfg.seed, "teacher_init"), name, model), R)
    teachers, t_losses = mlp.train_recorded(teacher_cfg, mlp.init_ensemble(teacher_cfg.widths, t_keys, cfg.init), X,
                                            sp.y_train)
    hard = _probs(teacher_cfg.widths, teachers, X).argmax(-1)                 # (R, n)
    soft = _probs(teacher_cfg.widths, teachers, X, cfg.temperature)           # (R, n, C)
    teacher_test = _probs(teacher_cfg.widths, teachers, X_test)               # (R, m, C)
    s_keys = rng.student_keys(rng.cell_key(rng.stream(cfg.seed, "init"), name, model), R)
    probs = {"teacher": teacher_test}
    fits = {"teacher_fit": _fit(teacher_cfg, teachers, t_losses, X_test, sp.y_test)}
    for role, loss, target in (("student_hard", "ce", hard), ("student_soft", "soft_ce", soft)):
        scfg = mlp.TrainConfig(widths(cfg.student_hidden), loss, cfg.learning_rate, cfg.students_epochs)
        params, losses = mlp.train_recorded(scfg, mlp.init_ensemble(scfg.widths, s_keys, cfg.init), X, target)
        probs[role] = _probs(scfg.widths, params, X_test)                     # (R, m, C)
        fits[f"{role}_fit"] = _fit(scfg, params, losses, X_test, sp.y_test)
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
    return out | fits


def _fit(train: mlp.TrainConfig, params, epoch_losses, X_test, y_test) -> dict:
    """R models' fit (:class:`jaxkd.experiments.fit.FitSummary` as JSON): their training loss
    (cross-entropy against their own targets: the true labels for teachers, the teacher's argmax
    labels or its softened probabilities for students) and, held out, each one's test
    cross-entropy against the true test labels (the mean negative log-likelihood)."""
    logits = mlp.predict(train.widths, params, X_test)                       # (R, m, C)
    labels = jnp.broadcast_to(jnp.asarray(y_test), logits.shape[:-1])
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(-1)
    return fit.FitSummary.recorded(epoch_losses, train.epochs, held_out=np.asarray(nll)).to_json()


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
    # Each role's fit (the teachers' and each student kind's, as JSON); None in older results.
    fields += [(f"{role}_fit", dict | None, dataclasses.field(default=None)) for role in ROLES]
    return fields


# One dataset and model class: per role (teacher, hard- and soft-label student) accuracy and the
# study's entropy table averaged over replicates, the teachers' retraining margin, and per
# student the study's overlap rule and the paired comparison (see the module docstring).
Comparison = dataclasses.make_dataclass("Comparison", _comparison_fields(), frozen=True)
Comparison.__module__ = __name__
Comparison.__doc__ = ("One dataset and model class: accuracy and the study's entropy table per role (averaged over "
                      "replicates), the teachers' retraining margin per group, and per student the study's overlap "
                      "rule (share of replicates disjoint) and the paired comparison (delta with its 95% interval); "
                      "per role its R models' fit (``teacher_fit``, ``student_hard_fit``, ``student_soft_fit``: "
                      "FitSummary JSON, held-out loss the test cross-entropy against the true labels).")


@dataclasses.dataclass(frozen=True)
class Results(base.Results):
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


def num(x) -> float:
    """A stored number, NaN for a missing one (JSON's None)."""
    return np.nan if x is None else float(x)


def is_judged(r, g: str) -> bool:
    """Whether the group is large enough to judge: MIN_EXAMPLES per replicate on average, over at
    least MIN_REPLICATES replicates."""
    replicates = num(getattr(r, f"student_hard_{g}_replicates"))
    return (replicates >= MIN_REPLICATES
            and num(getattr(r, f"student_hard_{g}_examples")) >= MIN_EXAMPLES * replicates)


def group_score(r, g: str, role: str = "student_hard"):
    """(share of margin left, its 95% low, high) for one group: ``(margin - |delta|)/margin``."""
    margin = num(getattr(r, f"teacher_{g}_margin"))
    d, lo, hi = (num(getattr(r, f"{role}_{g}_{k}")) for k in ("delta", "delta_low", "delta_high"))
    far, near = max(abs(lo), abs(hi)), (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
    return (margin - abs(d)) / margin, (margin - far) / margin, (margin - near) / margin
