"""Beyond the study: which distillation objective keeps a classifier's uncertainty? (issue 23;
the tabular analogue of ``llm-objectives``)

On the output-entropy datasets, teachers (logistic regression, and one-hidden-layer ReLU
networks) are trained on the true labels, one per seed; from each teacher, students of the
same class (half the hidden width for networks) are distilled with every objective of
:mod:`jaxkd.divergences`: the teacher's probabilities at temperature T under forward KL, JSD(β)
for each β in ``betas`` (TRL's meaning) and reverse KL, and, as in the study, the teacher's hard
argmax labels (forward KL to a one-hot target: cross-entropy; always at T = 1). Every student of
a dataset and model class (objectives x seeds) is one array axis trained in one compiled program
(:func:`jaxkd.students.ensemble.train`, the objective's β and T travel with the targets); a
seed's students share their initialization across objectives, so differences between
objectives are paired.

Measured on the test split, per seed: accuracy; mean predictive entropy (nats) over all test
examples and over those the *teacher* gets right / wrong (the same examples for every model);
expected calibration error (15 bins); agreement with the teacher. On the training split, for the
forward-KL and hard-label students, the entropy gap to the target and the residual forward KL,
which X.5 says are equal at a stationary point. Intervals: 95% Student-t over seeds (each seed a
fresh teacher and fresh students), of the per-seed student − teacher differences.

Theory (docs/theorems.md X.4-X.7): a student that can represent its teacher reaches it under
every objective (X.4), so objectives can only differ through what the student cannot represent
or through unfinished training; forward KL never narrows at stationarity (X.5).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from jaxkd import _validation as v
from jaxkd import divergences, memory, rng, uncertainty
from jaxkd import document as doc
from jaxkd.claims import Claim, Interval
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import DATASETS, check_available, load_dataset, split
from jaxkd.experiments import protocol
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, sweep
from jaxkd.students import ensemble, mlp

MODELS = ("logistic", "mlp")
OFFLINE = ("digits", "wine", "breast-cancer")  # as output-entropy (jaxkd.experiments.output_entropy)
GROUPS = ("all", "correct", "incorrect")        # test examples: all, the teacher right, the teacher wrong
ECE_BINS = 15
# "Keeps the teacher's entropy": the same margin as output-entropy's claim, max(25% of the
# teacher's mean entropy, 0.01 nats).
EQUIVALENCE, EQUIVALENCE_FLOOR = 0.25, 0.01


@dataclasses.dataclass(frozen=True)
class Config(Presets):
    PRESETS: ClassVar[dict] = {("paper", "*"): {"teacher_hidden": 128, "student_hidden": 64, "epochs": 300,
                                                "num_seeds": 20}}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("all", "model class: all (every class in models), logistic or mlp (that class alone)")
    datasets: tuple[str, ...] = option(OFFLINE, "classification datasets (see `jaxkd datasets`)")
    models: tuple[str, ...] = option(MODELS, "model classes to run when model is all")
    teacher_hidden: int = option(32, "MLP teachers' hidden width (the study: 128)")
    student_hidden: int = option(16, "MLP students' hidden width (the study: half the teacher's)")
    epochs: int = option(150, "full-batch Adam epochs of teachers and students")
    learning_rate: float = option(0.01, "Adam learning rate")
    temperature: float = option(1.0, "temperature T of the soft-target objectives (both logits divided by T)")
    betas: tuple[float, ...] = option((0.1, 0.5, 0.9), "JSD(β) objectives between forward KL (β=0) and reverse KL (β=1)")
    num_seeds: int = option(10, "seeds: each a fresh teacher and a fresh student initialization", flag="--seeds")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    split_seed: int = option(0, "seed of the 80/20 train/test split")

    def __post_init__(self):
        v.check_choice("model for objectives", self.model, ("all", *MODELS))
        if self.model != "all":
            object.__setattr__(self, "models", (self.model,))
        object.__setattr__(self, "datasets", v.check_grid("datasets", self.datasets, lambda n, d: d))
        for d in self.datasets:
            check_available(d)
            if not d.endswith(".csv") and DATASETS[d].task != "classification":
                raise ValueError(f"dataset {d!r} is a regression set; objectives needs classification.")
        object.__setattr__(self, "models", v.check_grid(
            "models", self.models, lambda n, m: v.check_choice("model class", m, MODELS)))
        v.check_int("teacher hidden width", self.teacher_hidden)
        v.check_int("student hidden width", self.student_hidden)
        v.check_int("epochs", self.epochs)
        v.check_positive("learning rate", self.learning_rate)
        v.check_positive("temperature", self.temperature)

        def beta(n, b):
            if not 0.0 < b < 1.0:
                raise ValueError(f"each β must lie strictly between 0 and 1 (forward and reverse KL are run "
                                 f"anyway), got {b}.")
            return float(b)

        betas = v.check_grid("betas", self.betas, beta)
        if list(betas) != sorted(set(betas)):
            raise ValueError(f"betas must be increasing and distinct, got {betas}.")
        object.__setattr__(self, "betas", betas)
        v.check_int("number of seeds", self.num_seeds, minimum=2)
        v.check_int("seed", self.seed, minimum=0)
        v.check_int("split seed", self.split_seed, minimum=0)

    def objectives(self) -> tuple[tuple[str, float, float, bool], ...]:
        """(label, β, T, hard) for every objective, in the order students are stacked: hard
        labels, forward KL, JSD(β) for each β, reverse KL."""
        T = self.temperature
        return (("hard labels", 0.0, 1.0, True), ("forward KL", 0.0, T, False),
                *((f"JSD({b:g})", b, T, False) for b in self.betas), ("reverse KL", 1.0, T, False))


# --- one dataset and model class -------------------------------------------------------------------


def _objective_loss(model, x, y):
    """Per-example objective: y (b, C + 2) holds the target's log-probabilities at the
    objective's temperature (computed once, outside the training loop), then β, then T."""
    C = y.shape[-1] - 2
    log_q = jax.nn.log_softmax(model(x) / y[:, C + 1:], axis=-1)
    return divergences.jsd_from_log_probs(log_q, y[:, :C], y[:, C])


@functools.lru_cache(maxsize=None)
def _adam(learning_rate: float):
    return optax.adam(learning_rate)  # one object per rate: ensemble.train reuses its program


def _group_means(values, masks):
    """Mean of values (..., S, m) over each mask (S, m), NaN for an empty group: -> (..., S)."""
    w = jnp.broadcast_to(masks, values.shape).astype(values.dtype)
    count = w.sum(-1)
    return jnp.where(count > 0, jnp.sum(values * w, -1) / jnp.maximum(count, 1), jnp.nan)


def distil(widths: tuple[int, ...], X, teacher_logits, objectives, init_keys, *, learning_rate: float,
           epochs: int):
    """Distil students from S teachers with every objective, all on one student axis.

    Args:
      widths: the students' layer widths (``jaxkd.students.mlp.MLP``).
      X: training inputs, (n, d).
      teacher_logits: each teacher's logits on X, (S, n, C).
      objectives: (label, β, T, hard) per objective (:meth:`Config.objectives`); hard targets are
        the teacher's argmax as one-hot logits (0 / -inf), whose forward KL is the cross-entropy.
      init_keys: (S,) student init keys; seed s's students share key s across objectives.

    Returns:
      ``(graphdef, states, target)``: the trained students, leading axis O·S (objective-major:
      student ``o·S + s`` is objective o distilled from teacher s), and their targets' logits
      (O, S, n, C).
    """
    S, n, C = teacher_logits.shape
    O = len(objectives)
    hard = jnp.where(jax.nn.one_hot(jnp.argmax(teacher_logits, -1), C) > 0, 0.0, -jnp.inf)
    target = jnp.stack([hard if is_hard else teacher_logits for *_, is_hard in objectives])  # (O, S, n, C)
    beta = jnp.asarray([b for _, b, _, _ in objectives], jnp.float32)
    temp = jnp.asarray([t for _, _, t, _ in objectives], jnp.float32)
    # Targets carry β and T: y = [log-probabilities of the target at T (C), β, T].
    log_target = jax.nn.log_softmax(target / temp[:, None, None, None], axis=-1)
    Y = jnp.concatenate([log_target, jnp.broadcast_to(beta[:, None, None, None], (O, S, n, 1)),
                         jnp.broadcast_to(temp[:, None, None, None], (O, S, n, 1))], axis=-1)
    graphdef, states = ensemble.init(lambda rngs: mlp.MLP(tuple(widths), rngs=rngs), jnp.concatenate([init_keys] * O))
    # Chunks of one objective's S students keep a chunk's (S, n, C) arrays near the cache (20-30%
    # faster than all O x S at once on a 2-core CPU, alternating runs).
    states = ensemble.train(graphdef, states, _objective_loss, X, Y.reshape(O * S, n, C + 2),
                            optimizer=_adam(learning_rate), epochs=epochs, chunk=S)
    return graphdef, states, target


def _guard_memory(cfg: Config, O: int, n: int, m: int, C: int, widths) -> None:
    """Refuse, before anything is allocated, a number of seeds the machine cannot hold: float32
    targets (O·S·n·(C + 2), three copies), predictions and measures (O·S·(n + m)·C, four), and one
    chunk's training activations (S·n·(hidden + C), about ten)."""
    S = cfg.num_seeds
    need = 4 * (3 * O * S * n * (C + 2) + 4 * O * S * (n + m) * C + 10 * S * n * sum(widths[1:]))
    memory.check_fits(need, f"objectives with {S} seeds x {O} objectives on {n:,} rows",
                      "lower --seeds")


def _point(cfg: Config, di: int, mi: int) -> dict:
    name, model = cfg.datasets[di], cfg.models[mi]
    sp = split(load_dataset(name, seed=cfg.split_seed), seed=cfg.split_seed)
    X, X_test = jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.X_test, jnp.float32)
    y_test = jnp.asarray(sp.y_test)
    (n, d), m, C, S = X.shape, X_test.shape[0], sp.num_classes, cfg.num_seeds
    widths = {"logistic": lambda h: (d, C), "mlp": lambda h: (d, h, C)}[model]
    objectives = cfg.objectives()
    O = len(objectives)
    _guard_memory(cfg, O, n, m, C, widths(cfg.student_hidden))

    # Teachers: one per seed, on the true labels (output-entropy's teachers).
    teacher_cfg = mlp.TrainConfig(widths(cfg.teacher_hidden), "ce", cfg.learning_rate, cfg.epochs)
    keys = rng.student_keys(rng.point_key(rng.stream(cfg.seed, "teacher_init"), di, mi), S)
    teachers = mlp.train_ensemble(teacher_cfg, mlp.init_ensemble(teacher_cfg.widths, keys), X, sp.y_train)
    t_train = mlp.predict(teacher_cfg.widths, teachers, X)          # (S, n, C)
    t_test = mlp.predict(teacher_cfg.widths, teachers, X_test)      # (S, m, C)

    # Students: objectives x seeds on one axis (objective-major).
    init_keys = rng.student_keys(rng.point_key(rng.stream(cfg.seed, "student_init"), di, mi), S)
    graphdef, states, target = distil(widths(cfg.student_hidden), X, t_train, objectives, init_keys,
                                      learning_rate=cfg.learning_rate, epochs=cfg.epochs)
    temp = jnp.asarray([t for _, _, t, _ in objectives], jnp.float32)
    s_test = ensemble.predict(graphdef, states, X_test).reshape(O, S, m, C)
    s_train = ensemble.predict(graphdef, states, X).reshape(O, S, n, C)

    # Test-set measures (T = 1 predictions), grouped by the teacher's correctness.
    t_correct = jnp.argmax(t_test, -1) == y_test[None]              # (S, m)
    masks = {"all": jnp.ones_like(t_correct), "correct": t_correct, "incorrect": ~t_correct}
    h_t, h_s = divergences.entropy(t_test), divergences.entropy(s_test)  # (S, m), (O, S, m)
    out = {"num_classes": C, "train_size": n, "test_size": m,
           "teacher_accuracy": jnp.mean(t_correct, -1),
           "teacher_ece": uncertainty.expected_calibration_error(jax.nn.softmax(t_test), y_test, ECE_BINS),
           "student_accuracy": jnp.mean(jnp.argmax(s_test, -1) == y_test[None, None], -1),
           "student_ece": uncertainty.expected_calibration_error(jax.nn.softmax(s_test), y_test, ECE_BINS),
           "student_agreement": jnp.mean(jnp.argmax(s_test, -1) == jnp.argmax(t_test, -1)[None], -1)}
    for g in GROUPS:
        out[f"teacher_entropy_{g}"] = _group_means(h_t, masks[g])
        out[f"student_entropy_{g}"] = _group_means(h_s, masks[g])
        out[f"teacher_count_{g}"] = jnp.sum(masks[g], -1)
    # Training-set check of X.5: at the objective's temperature, the student's entropy minus its
    # target's, and the residual forward KL to the target (equal at a stationary point).
    T = jnp.broadcast_to(temp[:, None, None], (O, S, n))
    out["student_train_entropy_gap"] = jnp.mean(
        divergences.entropy(s_train, temperature=T) - divergences.entropy(target, temperature=T), -1)
    out["student_train_kl"] = jnp.mean(divergences.forward_kl(s_train, target, temperature=T), -1)
    return out


@dataclasses.dataclass(frozen=True)
class Cell:
    """One dataset and model class. Teacher fields are (S,) over seeds; student fields are
    (O, S): objectives in the order of :meth:`Config.objectives`, then seeds. NaN (None in
    JSON) where a seed's teacher got no test example wrong."""

    num_classes: int
    train_size: int
    test_size: int
    teacher_accuracy: tuple
    teacher_ece: tuple
    teacher_entropy_all: tuple
    teacher_entropy_correct: tuple
    teacher_entropy_incorrect: tuple
    teacher_count_all: tuple
    teacher_count_correct: tuple
    teacher_count_incorrect: tuple
    student_accuracy: tuple
    student_ece: tuple
    student_agreement: tuple
    student_entropy_all: tuple
    student_entropy_correct: tuple
    student_entropy_incorrect: tuple
    student_train_entropy_gap: tuple
    student_train_kl: tuple

    def array(self, name: str) -> np.ndarray:
        """A field as a float array, None -> NaN."""
        return np.asarray(getattr(self, name), dtype=float)


def _frozen(value):
    return tuple(_frozen(x) for x in value) if isinstance(value, (list, tuple)) else value


def _cell(row: dict) -> Cell:
    return Cell(**{k: _frozen(val) for k, val in row.items()})


@dataclasses.dataclass(frozen=True)
class Results(protocol.Results):
    """Typed results: one :class:`Cell` per "dataset-model"."""

    runs: dict[str, Cell]

    @classmethod
    def from_json(cls, config, data: dict) -> "Results":
        return cls(config=config, runs={k: _cell(row) for k, row in data["runs"].items()})

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o[0] for o in self.config.objectives())


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run every dataset and model class (``run_dir`` enables save/resume); typed results."""
    points = [(f"{d}-{m}", (i, j)) for i, d in enumerate(cfg.datasets) for j, m in enumerate(cfg.models)]
    rows = sweep(run_dir, points, lambda p: _point(cfg, *p), desc="objectives")
    return Results(config=cfg, runs={key: _cell(row) for (key, _), row in zip(points, rows)})


# --- intervals over seeds ------------------------------------------------------------------------


def t_interval(x) -> tuple[float, float, float, int]:
    """Mean of the finite values of x and its 95% Student-t interval: (mean, low, high, count)
    (NaN interval with fewer than two values)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (float(x.mean()) if x.size else np.nan), np.nan, np.nan, int(x.size)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half), int(x.size)


def entropy_gap(cell: Cell, o: int, group: str = "all") -> np.ndarray:
    """Per-seed student (objective o) minus teacher mean entropy: (S,)."""
    return cell.array(f"student_entropy_{group}")[o] - cell.array(f"teacher_entropy_{group}")


# --- report: figures and document -----------------------------------------------------------------


def fig_entropy_gap(res: Results):
    """Entropy gap to the teacher (all test examples) per objective, one line per dataset-model,
    with 95% intervals over seeds."""
    labels = res.labels
    fig, ax = subplots(1, 1, figsize=(max(7.0, 1.2 * len(labels)), 4.2))
    x = np.arange(len(labels))
    for i, (key, cell) in enumerate(res.runs.items()):
        est = np.array([t_interval(entropy_gap(cell, o)) for o in range(len(labels))])
        off = (i - (len(res.runs) - 1) / 2) * 0.06
        ax.errorbar(x + off, est[:, 0], yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]], marker="o",
                    capsize=2, label=key)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, labels)
    ax.set_ylabel("student − teacher mean entropy (nats), 95% CI")
    ax.set_title("Predictive entropy of distilled classifiers by objective")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"entropy_gap.png": fig_entropy_gap(res)}


def _ci(x, digits: int = 3) -> str:
    est, lo, hi, _ = t_interval(x)
    if not np.isfinite(est):
        return "n/a"
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]" if np.isfinite(lo) else fmt(est, digits)


def document(res: Results) -> doc.Section:
    """This experiment's report: per dataset-model, the teacher's row and each objective's, then the
    X.5 training-set check and the figure."""
    cfg = res.config
    headers = ["model", "accuracy", "ECE", "entropy, all", "Δ entropy, all", "Δ entropy, teacher right",
               "Δ entropy, teacher wrong", "agreement"]
    blocks = [doc.Paragraph(
        f"Teachers trained on the true labels ({cfg.num_seeds} seeds, {cfg.epochs} epochs of full-batch Adam, lr "
        f"{cfg.learning_rate}; MLP teachers {cfg.teacher_hidden} hidden units, students {cfg.student_hidden}). "
        f"Students distilled from each seed's teacher with every objective: hard argmax labels (the study's "
        f"setting, T = 1), and the teacher's logits at T = {cfg.temperature:g} under forward KL, JSD(β) (TRL's β: "
        "0 forward, 1 reverse) and reverse KL. Each cell: mean over seeds and its 95% Student-t interval. "
        "Δ entropy = student minus teacher mean predictive entropy (nats) on the same test examples, paired by "
        "seed; 'teacher right / wrong' are the test examples the seed's teacher classifies correctly / not. "
        "ECE: expected calibration error, 15 equal-width bins.")]
    for key, cell in res.runs.items():
        rows = [["teacher", _ci(cell.array("teacher_accuracy")), _ci(cell.array("teacher_ece")),
                 _ci(cell.array("teacher_entropy_all")), "0", "0", "0", "1"]]
        for o, label in enumerate(res.labels):
            rows.append([label, _ci(cell.array("student_accuracy")[o]), _ci(cell.array("student_ece")[o]),
                         _ci(cell.array("student_entropy_all")[o]), _ci(entropy_gap(cell, o, "all")),
                         _ci(entropy_gap(cell, o, "correct")), _ci(entropy_gap(cell, o, "incorrect")),
                         _ci(cell.array("student_agreement")[o])])
        wrong = cell.array("teacher_count_incorrect")
        blocks += [doc.Paragraph(doc.Strong(key), f": {cell.num_classes} classes, {cell.train_size} training and "
                                 f"{cell.test_size} test examples; the teachers get {fmt(float(np.mean(wrong)), 3)} "
                                 "test examples wrong on average."),
                   doc.Table(headers, rows)]
    x5 = []
    for key, cell in res.runs.items():
        for o in (0, 1):  # hard labels and forward KL: the objectives X.5 covers
            gap, kl = cell.array("student_train_entropy_gap")[o], cell.array("student_train_kl")[o]
            x5.append([key, res.labels[o], _ci(gap, 4), _ci(kl, 4), _ci(gap - kl, 4)])
    blocks += [
        doc.Paragraph("Training-set check of X.5 (docs/theorems.md): at a stationary point of forward KL the "
                      "student's mean entropy exceeds its target's by exactly the mean residual KL(p‖q) (the target "
                      "is the teacher at T, or the one-hot label). The last column is the remainder, zero at "
                      "stationarity; its size says how far from stationary the students stopped."),
        doc.Table(["dataset-model", "objective", "H(q) − H(target), train", "KL(target‖q), train",
                   "remainder"], x5),
        doc.Figure("entropy_gap.png", "entropy gap to the teacher per objective")]
    return doc.Section("Which distillation objective keeps the teacher's uncertainty? (classifiers)", blocks)


# --- claims: issue 23's predictions, translated to classifiers -----------------------------------


def _worst_cell(res: Results, rows) -> Interval:
    """The claim's interval from per-cell rows ``(where, estimate, low, high, seeds, text)`` of a
    quantity that is positive when the claim holds there: the worst cell's ``[min low, min high]``,
    so the claim is reproduced when every cell's interval is above 0 and not reproduced when some
    cell's lies wholly below."""
    rows = [r for key, cell in res.runs.items() for r in rows(key, cell) if np.isfinite(r[2])]
    if not rows:
        return Interval(np.nan, np.nan, np.nan, 0, "no cell with two finite seeds", precondition=False)
    worst = min(rows, key=lambda r: r[2])
    other = [f"{r[0]}: {r[5]}" for r in rows if r[3] < 0]
    listed = f" ({'; '.join(other[:3])}{'; ...' if len(other) > 3 else ''})" if other else ""
    text = (f"{sum(r[2] > 0 for r in rows)} of {len(rows)} intervals on the claimed side, {len(other)} wholly on "
            f"the other{listed}; lowest bound: {worst[0]}, {worst[5]}")
    return Interval(worst[1], min(r[2] for r in rows), min(r[3] for r in rows), worst[4], text)


def _forward_keeps(res: Results) -> Interval:
    """Equivalence: q = δ − |Δ| with Δ the student − teacher entropy; from Δ's interval [lo, hi],
    q's is [δ − max(|lo|, |hi|), δ − distance of [lo, hi] from 0]."""
    def rows(key, cell):
        gap = entropy_gap(cell, 1)
        est, lo, hi, count = t_interval(gap)
        delta = max(EQUIVALENCE * float(np.nanmean(cell.array("teacher_entropy_all"))), EQUIVALENCE_FLOOR)
        near = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
        yield (key, delta - abs(est), delta - max(abs(lo), abs(hi)), delta - near, count,
               f"Δ entropy {fmt(est, 3)} nats, 95% interval [{fmt(lo, 3)}, {fmt(hi, 3)}] over {count} seeds, "
               f"margin ±{fmt(delta, 3)}")

    return _worst_cell(res, rows)


def _narrower(objective_index):
    def judge(res: Results) -> Interval:
        o = objective_index(res)

        def rows(key, cell):
            est, lo, hi, count = t_interval(-entropy_gap(cell, o))
            yield (key, est, lo, hi, count, f"teacher − student entropy {fmt(est, 3)} nats, 95% interval "
                   f"[{fmt(lo, 3)}, {fmt(hi, 3)}] over {count} seeds")

        return _worst_cell(res, rows)

    return judge


def _monotone(res: Results) -> Interval:
    labels = res.labels

    def rows(key, cell):
        h = cell.array("student_entropy_all")
        for o in range(1, len(labels) - 1):  # forward KL, JSD(β) in increasing β, reverse KL
            est, lo, hi, count = t_interval(h[o] - h[o + 1])
            yield (f"{key} {labels[o]} − {labels[o + 1]}", est, lo, hi, count,
                   f"entropy difference {fmt(est, 4)} nats, 95% interval [{fmt(lo, 4)}, {fmt(hi, 4)}] over {count} seeds")

    return _worst_cell(res, rows)


CLAIMS: tuple[Claim, ...] = (
    Claim("objectives-forward", "objectives", "Classifiers distilled with forward KL on the teacher's soft labels "
          "keep the teacher's predictive entropy (issue 23; theory X.4, X.5)",
          "in every dataset and model class the 95% interval over seeds of the student − teacher mean test entropy "
          "lies within ±max(25% of the teacher's mean entropy, 0.01 nats) (reproduced); some interval wholly "
          "outside it: not reproduced; else inconclusive", ("objectives-all",), _forward_keeps),
    Claim("objectives-hard", "objectives", "Hard labels (the teacher's argmax, one target per input) narrow the "
          "student's predictive entropy below the teacher's (issue 23; C.1)",
          "in every dataset and model class the 95% interval over seeds of teacher − student mean test entropy lies "
          "above 0 (reproduced); some interval wholly below 0: not reproduced; else inconclusive",
          ("objectives-all",), _narrower(lambda res: 0)),
    Claim("objectives-reverse", "objectives", "Reverse KL (mode-seeking) narrows the student's predictive entropy "
          "below the teacher's (issue 23)",
          "in every dataset and model class the 95% interval over seeds of teacher − student mean test entropy lies "
          "above 0 (reproduced); some interval wholly below 0: not reproduced; else inconclusive",
          ("objectives-all",), _narrower(lambda res: len(res.labels) - 1)),
    Claim("objectives-jsd", "objectives", "JSD(β) lies between forward and reverse KL, its student's entropy "
          "falling monotonically in β (issue 23; theory X.7)",
          "in every dataset and model class, the 95% interval over seeds of each consecutive difference of student "
          "entropy along forward KL, JSD(β) in increasing β, reverse KL lies above 0 (reproduced); some interval "
          "wholly below 0: not reproduced; else inconclusive", ("objectives-all",), _monotone),
)
