"""The computation of objectives: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy import stats

from jaxkd import divergences, memory, rng, uncertainty
from jaxkd.data import load_dataset, split
from jaxkd.experiments import results as base
from jaxkd.experiments.objectives.config import Config
from jaxkd.runs import RunDir, sweep
from jaxkd.students import ensemble, mlp

GROUPS = ("all", "correct", "incorrect")        # test examples: all, the teacher right, the teacher wrong
ECE_BINS = 15
# "Keeps the teacher's entropy": the same margin as output-entropy's claim, max(25% of the
# teacher's mean entropy, 0.01 nats).
EQUIVALENCE, EQUIVALENCE_FLOOR = 0.25, 0.01
# Epochs per compiled block under a stopping rule: a chunk whose students have all stopped skips
# the rest of its blocks.
BLOCK_EPOCHS = 250
WINDOW = 20      # epochs over which the stopping rule judges a student's training loss


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
           epochs: int, stopping: ensemble.Stopping | None = None, hard_epochs: int | None = None):
    """Distil students from S teachers with every objective, all on one student axis.

    Args:
      widths: the students' layer widths (``jaxkd.students.mlp.MLP``).
      X: training inputs, (n, d).
      teacher_logits: each teacher's logits on X, (S, n, C).
      objectives: (label, β, T, hard) per objective (:meth:`Config.objectives`); hard targets are
        the teacher's argmax as one-hot logits (0 / -inf), whose forward KL is the cross-entropy.
      init_keys: (S,) student init keys; seed s's students share key s across objectives.
      epochs: full-batch epochs (the cap, with a stopping rule).
      stopping: optional per-student :class:`jaxkd.students.ensemble.Stopping` rule (each
        student stops on its own; judged every epoch, the rest of a chunk whose students have
        all stopped is skipped).
      hard_epochs: a fixed budget for the hard-label students instead (None: they train like
        the others). Hard labels on separable training data have no stationary point (the
        logits grow without bound), so a stopping rule would only measure its cap.

    Returns:
      ``(graphdef, states, target, convergence)``: the trained students, leading axis O·S
      (objective-major: student ``o·S + s`` is objective o distilled from teacher s), their
      targets' logits (O, S, n, C), and how far each student went
      (:class:`jaxkd.students.ensemble.Convergence`, None without a stopping rule; a student on
      a fixed budget counts its steps, not converged).
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
    Y = Y.reshape(O * S, n, C + 2)
    if stopping is None:
        # Chunks of one objective's S students keep a chunk's (S, n, C) arrays near the cache
        # (20-30% faster than all O x S at once on a 2-core CPU, alternating runs).
        states = ensemble.train(graphdef, states, _objective_loss, X, Y, optimizer=_adam(learning_rate),
                                epochs=epochs, chunk=S)
        return graphdef, states, target, None
    fixed = np.repeat([bool(h) and hard_epochs is not None for *_, h in objectives], S)  # (O·S,)
    take = lambda tree, idx: jax.tree.map(lambda a: a[idx], tree)  # noqa: E731
    parts, steps, converged = [], np.zeros(O * S, np.int64), np.zeros(O * S, bool)
    for on_rule, idx in ((True, np.flatnonzero(~fixed)), (False, np.flatnonzero(fixed))):
        if not idx.size:
            continue
        sub = take(states, idx)
        if not on_rule:
            parts.append((idx, ensemble.train(graphdef, sub, _objective_loss, X, Y[idx],
                                              optimizer=_adam(learning_rate), epochs=hard_epochs, chunk=S)))
            steps[idx] = hard_epochs
            continue
        params, rest = nnx.filter_state(sub, nnx.Param), nnx.filter_state(sub, nnx.Not(nnx.Param))
        out = ensemble.fit(ensemble.PerExample(graphdef, _objective_loss), _adam(learning_rate),
                           ensemble.Schedule(epochs), params, ensemble.Batch(x=jnp.asarray(X)),
                           own=ensemble.Batch(y=Y[idx], weights=jnp.ones((idx.size, n), jnp.float32)), state=rest,
                           chunk=S, history=False, stopping=stopping, epochs_per_block=min(epochs, BLOCK_EPOCHS))
        parts.append((idx, nnx.merge_state(out.params, out.state)))
        steps[idx], converged[idx] = np.asarray(out.convergence.steps), np.asarray(out.convergence.converged)
    order = np.argsort(np.concatenate([idx for idx, _ in parts]))
    states = jax.tree.map(lambda *a: jnp.concatenate(a)[order], *(st for _, st in parts))
    nan = np.full(O * S, np.nan)
    return graphdef, states, target, ensemble.Convergence(steps, converged, nan, nan)


def stopping(cfg: Config) -> ensemble.Stopping | None:
    """The students' stopping rule (None: a fixed budget): the relative change of the training
    loss below ``cfg.stopping_tol`` over :data:`WINDOW` epochs, or the gradient norm below 10
    times it."""
    if cfg.stopping_tol is None:
        return None
    return ensemble.Stopping(tol=cfg.stopping_tol, window=WINDOW, grad_tol=10 * cfg.stopping_tol)


def _objective_value(logits, target, beta, temp):
    """Each student's mean objective: logits (O, S, r, C) against target logits (same shape),
    β and T per objective (O,) -> (O, S)."""
    log_q = jax.nn.log_softmax(logits / temp[:, None, None, None], axis=-1)
    log_p = jax.nn.log_softmax(target / temp[:, None, None, None], axis=-1)
    b = jnp.broadcast_to(beta[:, None, None], log_q.shape[:-1])
    return jnp.mean(divergences.jsd_from_log_probs(log_q, log_p, b), -1)


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
    keys = rng.student_keys(rng.cell_key(rng.stream(cfg.seed, "teacher_init"), name, model), S)
    teachers = mlp.train_ensemble(teacher_cfg, mlp.init_ensemble(teacher_cfg.widths, keys), X, sp.y_train)
    t_train = mlp.predict(teacher_cfg.widths, teachers, X)          # (S, n, C)
    t_test = mlp.predict(teacher_cfg.widths, teachers, X_test)      # (S, m, C)

    # Students: objectives x seeds on one axis (objective-major).
    init_keys = rng.student_keys(rng.cell_key(rng.stream(cfg.seed, "student_init"), name, model), S)
    graphdef, states, target, conv = distil(widths(cfg.student_hidden), X, t_train, objectives, init_keys,
                                            learning_rate=cfg.learning_rate, epochs=cfg.student_epochs,
                                            stopping=stopping(cfg), hard_epochs=cfg.hard_epochs)
    temp = jnp.asarray([t for _, _, t, _ in objectives], jnp.float32)
    s_test = ensemble.predict(graphdef, states, X_test).reshape(O, S, m, C)
    s_train = ensemble.predict(graphdef, states, X).reshape(O, S, n, C)
    # How far each student went: steps, converged, and its objective on the training and the
    # test inputs (the target on the test inputs: the same teacher, or its argmax).
    hard_test = jnp.where(jax.nn.one_hot(jnp.argmax(t_test, -1), C) > 0, 0.0, -jnp.inf)
    target_test = jnp.stack([hard_test if is_hard else t_test for *_, is_hard in objectives])
    beta = jnp.asarray([b for _, b, _, _ in objectives], jnp.float32)
    out_fit = {"student_steps": (np.asarray(conv.steps) if conv is not None else
                                 np.full(O * S, cfg.student_epochs)).reshape(O, S),
               "student_converged": (np.asarray(conv.converged) if conv is not None else
                                     np.zeros(O * S, bool)).reshape(O, S),
               "student_train_loss": _objective_value(s_train, target, beta, temp),
               "student_held_out_loss": _objective_value(s_test, target_test, beta, temp)}

    # Test-set measures (T = 1 predictions), grouped by the teacher's correctness.
    t_correct = jnp.argmax(t_test, -1) == y_test[None]              # (S, m)
    masks = {"all": jnp.ones_like(t_correct), "correct": t_correct, "incorrect": ~t_correct}
    h_t, h_s = divergences.entropy(t_test), divergences.entropy(s_test)  # (S, m), (O, S, m)
    out = {"num_classes": C, "train_size": n, "test_size": m, **out_fit,
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
    # How far each student trained (None in results saved before the students trained to
    # stationarity): steps, converged under the rule, its objective on the training and test inputs.
    student_steps: tuple | None = None
    student_converged: tuple | None = None
    student_train_loss: tuple | None = None
    student_held_out_loss: tuple | None = None

    def array(self, name: str) -> np.ndarray:
        """A field as a float array, None -> NaN."""
        return np.asarray(getattr(self, name), dtype=float)


def _frozen(value):
    return tuple(_frozen(x) for x in value) if isinstance(value, (list, tuple)) else value


def _cell(row: dict) -> Cell:
    return Cell(**{k: _frozen(val) for k, val in row.items()})


@dataclasses.dataclass(frozen=True)
class Results(base.Results):
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


def t_interval(x, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of the finite values of x and its Student-t interval at ``level`` (two-sided):
    (mean, low, high, count) (NaN interval with fewer than two values)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (float(x.mean()) if x.size else np.nan), np.nan, np.nan, int(x.size)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half), int(x.size)


def entropy_gap(cell: Cell, o: int, group: str = "all") -> np.ndarray:
    """Per-seed student (objective o) minus teacher mean entropy: (S,)."""
    return cell.array(f"student_entropy_{group}")[o] - cell.array(f"teacher_entropy_{group}")
