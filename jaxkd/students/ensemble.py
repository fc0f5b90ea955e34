"""The training engine: N copies of any Flax NNX module trained at once, by any objective and
any optax optimizer, in one compiled loop.

Every student ensemble in jaxkd trains here, tabular or language model: one student is a pure
function of its parameters, its data and its keys; the ensemble is ``jax.vmap`` of it over a
leading student axis, split over devices by :func:`jaxkd.sharding.map_students` and, when
memory asks for it, run in chunks of students. A block of epochs is one compiled
``jax.lax.scan`` over optimisation steps. Every random input is explicit and has its own
stream: ``init`` takes one key per student, minibatch training one data-order key per
student (each epoch a fresh permutation without replacement, :func:`jaxkd.rng.permutation`),
dropout one key per student.

Two entry points:

* :func:`train` for the common case: a per-example loss on shared inputs ``X`` and per-student
  targets ``Y`` (and example weights, e.g. bootstrap counts)::

      graphdef, states = ensemble.init(lambda rngs: MyNet(rngs=rngs), init_keys)       # (N, ...) leaves
      states = ensemble.train(graphdef, states, my_loss, X, Y, optimizer=optax.adam(1e-3), epochs=100)
      preds = ensemble.predict(graphdef, states, X_test)                               # (N, m, ...)

  ``my_loss(model, x, y) -> (b,)`` per-example losses; each student minimises their
  ``weights``-weighted mean. Modules with dropout (``nnx.Dropout``) get a fresh key per step
  from ``dropout_keys``; modules with batch statistics (``nnx.BatchNorm``) update them in
  training and :func:`predict` runs the module in evaluation mode (running averages, no
  dropout).
* :func:`fit` for anything else (language models): an :data:`Objective` of the parameters, a
  gathered batch and a step key, data as a batch record (a NamedTuple of arrays, such as
  :class:`Batch` or :class:`jaxkd.llm.objective.SequenceBatch`), per-step loss history,
  evaluation after every block, a trace of chosen quantities per step, and a progress callback.

A batch record is a NamedTuple (so a pytree) with one field per kind of array, every array with
a leading example axis; a field is None where a part of the data does not hold it: ``fit`` takes
the fields every student shares and each student's own fields as two records of the same type
and gives the objective their union (:func:`merge`).

:func:`run_block` is the unvalidated core both are built on (jit/vmap-safe, one student).
:mod:`jaxkd.students.mlp` is one instance (a ReLU MLP with squared error or cross-entropy, plus a
fused fast path for the study's one-hidden-layer students), :mod:`jaxkd.llm.training` another.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxkd import _validation as v
from jaxkd import rng, sharding

Loss = Callable[[nnx.Module, jax.Array, jax.Array], jax.Array]

#: ``objective(params, state, batch, valid, keys, extra, step) -> (loss, state)``: the scalar a
#: student minimises on one batch. ``params`` are the trainable parameters, ``state`` the rest
#: of the module's state (batch statistics; an empty State for most modules), ``batch`` the
#: data record gathered at this step's example indices (leaves (B, ...)), ``valid`` (B,) marks
#: real examples (False: padding of a ragged last batch, which must not count), ``keys`` this
#: student's step keys (the ``step_keys`` pytree with the step folded into every stream: a
#: dropout key, a sampling key; None without step keys), ``extra`` the shared non-trained inputs
#: (a teacher's parameters, a key shared by all students), ``step`` the global step index (the
#: same for every student). Returns the loss and the updated non-trainable state.
Objective = Callable[..., tuple[jax.Array, Any]]


class Batch(NamedTuple):
    """The batch record of :class:`PerExample` (the per-example losses of :func:`train`):
    inputs ``x`` (n, ...), targets ``y`` (n, ...) and example ``weights`` (n,) (with a leading
    student axis N in ``fit``'s ``own`` record); None where a part of the data lacks the field."""

    x: Any = None
    y: Any = None
    weights: Any = None


def merge(shared, own):
    """One student's view of the data: the batch record ``shared`` with the fields that ``own``
    (a record of the same type, or None) holds; either may be None."""
    if own is None:
        return shared
    if shared is None:
        return own
    return shared._replace(**{k: a for k, a in own._asdict().items() if a is not None})


def _check_record(name: str, data) -> None:
    if data is not None and not (isinstance(data, tuple) and hasattr(data, "_replace")):
        raise ValueError(f"{name} must be a batch record (a NamedTuple of arrays such as ensemble.Batch), "
                         f"got {type(data).__name__}.")


def check_keys(name: str, keys, count: int | None = None) -> jax.Array:
    """``keys`` as a 1-D array of typed PRNG keys (one per student), or ``ValueError``."""
    keys = jnp.asarray(keys)
    if keys.ndim != 1 or not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError(f"{name} must be a 1-D array of typed PRNG keys, one per student "
                         "(jax.random.split(jax.random.key(seed), N)).")
    if count is not None and keys.shape[0] != count:
        raise ValueError(f"{keys.shape[0]} {name} for {count} students; give one per student.")
    return keys


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How each student walks through its n examples.

    Attributes:
      epochs: passes over the data (>= 1).
      batch_size: examples per step; None (or >= n) trains full batch, one step per epoch.
      drop_last: with minibatches, drop the ragged last batch of each epoch (n // B steps per
        epoch) or keep it (ceil(n / B) steps, the last one padded with examples marked invalid,
        as PyTorch's DataLoader and the Hugging Face Trainer do by default).
      max_steps: stop after this many steps (the last epoch then partial): compute-matched
        comparisons of training sets of different sizes. None: every step of every epoch.
    """

    epochs: int
    batch_size: int | None = None
    drop_last: bool = True
    max_steps: int | None = None

    def __post_init__(self):
        v.check_int("epochs", self.epochs)
        if self.batch_size is not None:
            v.check_int("batch size", self.batch_size)
        if self.max_steps is not None:
            v.check_int("max steps", self.max_steps)

    def minibatch(self, n: int) -> bool:
        return self.batch_size is not None and self.batch_size < n

    def width(self, n: int) -> int:
        """Examples per step (B)."""
        return self.batch_size if self.minibatch(n) else n

    def steps_per_epoch(self, n: int) -> int:
        if not self.minibatch(n):
            return 1
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def total_steps(self, n: int) -> int:
        full = self.epochs * self.steps_per_epoch(n)
        return full if self.max_steps is None else min(full, self.max_steps)

    def epochs_run(self, n: int) -> int:
        """Epochs that hold at least one step (all, unless ``max_steps`` stops earlier)."""
        return -(-self.total_steps(n) // self.steps_per_epoch(n))


MONITORS = ("train", "held-out")


@dataclasses.dataclass(frozen=True)
class Stopping:
    """A stopping rule, judged for every student on its own at the end of every epoch.

    The student stops when the relative change of the monitored loss over the last ``window``
    epochs, ``|L_e - L_(e-window)| / |L_(e-window)|``, falls below ``tol`` (judged from epoch
    ``window + 1`` on), or, with ``grad_tol`` (full-batch students only), when the norm of the
    epoch's gradient falls below it. ``monitor`` "train" watches each epoch's training loss (the
    mean objective over the epoch's steps); "held-out" watches the evaluation :func:`fit` runs
    after every epoch (its ``evaluate`` on ``eval_data``). A student that has stopped is frozen:
    its parameters, optimizer state and module state no longer change while the others go on,
    in the same vmapped program (masked updates). The schedule's epochs (or ``max_steps``) are
    the cap: a student still moving then is reported as capped, not converged.
    """

    tol: float = 1e-4
    window: int = 10
    monitor: str = "train"
    grad_tol: float | None = None

    def __post_init__(self):
        v.check_positive("stopping tolerance", self.tol)
        v.check_int("stopping window", self.window)
        v.check_choice("stopping monitor", self.monitor, MONITORS)
        if self.grad_tol is not None:
            v.check_positive("gradient-norm tolerance", self.grad_tol)


class Watch(NamedTuple):
    """One student's convergence state between steps (part of its :class:`Carry`): all ``()``
    but ``history`` (window + 1,), the monitored loss of the last epochs as a ring."""

    converged: jax.Array    # bool: stopped by the rule (frozen from then on)
    steps: jax.Array        # int32: optimisation steps taken (updates applied)
    epoch_sum: jax.Array    # the current epoch's summed training loss
    epoch_count: jax.Array  # int32: its steps so far
    history: jax.Array      # (window + 1,) monitored loss of epoch e at index e % (window + 1)
    epochs: jax.Array       # int32: epochs judged
    change: jax.Array       # the last judged relative change over the window (inf before it)
    last: jax.Array         # the last judged monitored loss
    grad_norm: jax.Array    # the gradient norm of the last step


def watch_init(stopping: Stopping, dtype) -> Watch:
    """A student's :class:`Watch` before its first step."""
    z = jnp.zeros((), dtype)
    return Watch(jnp.zeros((), bool), jnp.zeros((), jnp.int32), z, jnp.zeros((), jnp.int32),
                 jnp.zeros((stopping.window + 1,), dtype), jnp.zeros((), jnp.int32), jnp.full((), jnp.inf, dtype),
                 jnp.full((), jnp.nan, dtype), jnp.full((), jnp.inf, dtype))


def judge(stopping: Stopping, w: Watch, value) -> Watch:
    """``w`` after an epoch whose monitored loss is ``value`` (core): pushed on the history,
    the window's relative change, and the rule applied. A converged student's watch does not
    change."""
    e = w.epochs + 1
    size = stopping.window + 1
    value = jnp.asarray(value, w.history.dtype)
    old = w.history[(e + 1) % size]  # the monitored loss of epoch e - window (ring of window + 1)
    change = jnp.where(e > stopping.window, jnp.abs(value - old) / jnp.maximum(jnp.abs(old), jnp.finfo(old.dtype).tiny),
                       jnp.inf).astype(w.change.dtype)
    now = change < stopping.tol
    if stopping.grad_tol is not None:
        now = now | (w.grad_norm < stopping.grad_tol)
    judged = w._replace(converged=now, history=w.history.at[e % size].set(value), epochs=e, change=change, last=value,
                        epoch_sum=jnp.zeros_like(w.epoch_sum), epoch_count=jnp.zeros_like(w.epoch_count))
    return jax.tree.map(lambda a, b: jnp.where(w.converged, a, b), w, judged)


class Convergence(NamedTuple):
    """How far each student's training went (:func:`fit` with a :class:`Stopping` rule), each
    (N,) on the host: ``steps`` taken, ``converged`` (True: stopped by the rule; False: capped by
    the schedule), ``final_loss`` (the last judged monitored loss) and ``change`` (the window's
    relative change then; inf when fewer epochs than the window ran)."""

    steps: np.ndarray
    converged: np.ndarray
    final_loss: np.ndarray
    change: np.ndarray

    @property
    def converged_share(self) -> float:
        """The share of students stopped by the rule."""
        return float(np.mean(self.converged))


def convergence_at_end(stopping: Stopping, epoch_losses, steps_per_epoch: int = 1) -> Convergence:
    """How far students that trained a fixed budget got, judged from their history (record
    only: nothing was stopped). ``epoch_losses`` (N, E) is each student's monitored loss after
    every epoch; a student counts as converged when ``stopping``'s relative-change rule holds at
    its last epoch, ``|L_E - L_(E-window)| / |L_(E-window)| < tol`` (the rule :func:`fit`
    applies epoch by epoch; the gradient-norm rule is not judged here). Returns a
    :class:`Convergence` with ``steps`` the whole budget, ``final_loss`` the last epoch's loss
    and ``change`` the last window's relative change (inf when E <= window).
    """
    if not isinstance(stopping, Stopping):
        raise ValueError(f"stopping must be an ensemble.Stopping rule, got {type(stopping).__name__}.")
    L = np.asarray(epoch_losses, np.float64)
    if L.ndim != 2 or L.shape[1] < 1:
        raise ValueError(f"epoch losses must be (students, epochs), got shape {L.shape}.")
    N, E = L.shape
    final = L[:, -1]
    if E > stopping.window:
        old = L[:, -1 - stopping.window]
        change = np.abs(final - old) / np.maximum(np.abs(old), np.finfo(np.float32).tiny)
    else:
        change = np.full(N, np.inf)
    return Convergence(np.full(N, E * steps_per_epoch, np.int64), change < stopping.tol, final, change)


def epoch_batches(key: jax.Array | None, n: int, schedule: Schedule) -> tuple[jax.Array, jax.Array]:
    """One epoch's example indices and validity (core): ``(idx, valid)``, both (S, B).

    Full batch: every example, in order. Minibatches: a permutation of ``range(n)`` without
    replacement from ``key`` (:func:`jaxkd.rng.permutation`), cut into S batches of B; the
    ragged tail is dropped or padded (index 0, ``valid`` False) as ``schedule.drop_last`` says.
    """
    S, B = schedule.steps_per_epoch(n), schedule.width(n)
    if not schedule.minibatch(n):
        return jnp.arange(n, dtype=jnp.int32)[None], jnp.ones((1, n), bool)
    perm = rng.permutation(key, n)
    if schedule.drop_last:
        return perm[: S * B].reshape(S, B), jnp.ones((S, B), bool)
    pad = S * B - n
    idx = jnp.concatenate([perm, jnp.zeros(pad, jnp.int32)]).reshape(S, B)
    return idx, (jnp.arange(S * B) < n).reshape(S, B)


def epoch_keys(order_key: jax.Array, epochs: int) -> jax.Array:
    """The permutation key of every epoch of one student: ``split(order_key, epochs)``, (E,)."""
    return jax.random.split(order_key, epochs)


class Carry(NamedTuple):
    """One student's training state between steps: trainable ``params``, the optimizer's
    ``opt`` state, the module's non-trainable ``state`` (batch statistics) and, under a
    :class:`Stopping` rule, its :class:`Watch` (None without one)."""

    params: Any
    opt: Any
    state: Any
    watch: Any = None


def run_block(objective: Objective, optimizer: optax.GradientTransformation, schedule: Schedule, n: int,
              carry: Carry, data, keys, step_keys, step0, extra, trace=None, losses: bool = True,
              stopping: Stopping | None = None):
    """Train one student for a block of epochs (core: no validation; vmap it over students).

    Args:
      objective: the :data:`Objective`.
      optimizer: any optax transformation.
      schedule: epochs are given by ``keys``; batch size and ragged-batch rule from here.
      n: examples per epoch (the leading size of every leaf of ``data``).
      carry: the student's :class:`Carry`.
      data: the batch record of arrays with leading axis n (this student's view: the shared
        fields and its own, :func:`merge`).
      keys: (E,) one permutation key per epoch of this block (full batch ignores their values;
        their number is the block's epochs).
      step_keys: this student's per-step key streams, a pytree of keys (None: none); step s
        gets every stream folded with s, so a block boundary does not change the keys.
      step0: global index of the block's first step (traced int); steps at or beyond
        ``schedule.total_steps(n)`` (``max_steps``) are skipped: the carry is unchanged.
      extra: shared non-trained inputs handed to the objective.
      trace: optional ``trace(params) -> pytree`` recorded after every step.
      losses: return the objective's value at every step (else None: the program then need not
        keep it).
      stopping: optional :class:`Stopping` rule (``carry.watch`` holds its state): the update of
        a converged student is masked out (its carry stays as it was; its recorded loss is its
        last judged loss). A "train" rule is judged at every epoch's end here; a "held-out" rule
        by the caller after evaluating (:func:`judge`).

    Returns:
      ``(carry, losses (steps,) or None, traced (steps, ...) or None)``.
    """
    idx, valid = jax.vmap(lambda k: epoch_batches(k, n, schedule))(keys)        # (E, S, B)
    idx, valid = idx.reshape(-1, idx.shape[-1]), valid.reshape(-1, valid.shape[-1])
    count = idx.shape[0]
    steps = jnp.asarray(step0, jnp.int32) + jnp.arange(count, dtype=jnp.int32)  # int32 under x64 too

    total = schedule.total_steps(n)
    partial = total < schedule.epochs_run(n) * schedule.steps_per_epoch(n)

    def train(c: Carry, i, ok, s):
        batch = jax.tree.map(lambda a: a[i], data)
        key = None if step_keys is None else jax.tree.map(lambda k: jax.random.fold_in(k, s), step_keys)
        (loss, state), grads = jax.value_and_grad(objective, has_aux=True)(c.params, c.state, batch, ok, key, extra,
                                                                           s)
        # optax's Adam bias correction mixes its int32 step count with floats; allow that
        # promotion there only (the tests run everything else with strict promotion).
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = optimizer.update(grads, c.opt, c.params)
        new = Carry(optax.apply_updates(c.params, updates), opt, state, c.watch)
        if stopping is not None:
            new, loss = _watched(c, new, loss, grads, s)
        return new, (loss if losses else None, None if trace is None else trace(new.params))

    per_epoch = schedule.steps_per_epoch(n)

    def _watched(c: Carry, new: Carry, loss, grads, s):
        """The masked update of a watched student, and the rule at an epoch's end."""
        w = c.watch
        frozen = w.converged
        keep = lambda a, b: jnp.where(frozen, a, b)  # noqa: E731
        w = w._replace(steps=w.steps + jnp.where(frozen, 0, 1).astype(w.steps.dtype),
                       epoch_sum=w.epoch_sum + jnp.where(frozen, 0, loss).astype(w.epoch_sum.dtype),
                       epoch_count=w.epoch_count + 1,
                       grad_norm=keep(w.grad_norm, optax.tree.norm(grads).astype(w.grad_norm.dtype)))
        if stopping.monitor == "train":
            end = ((s + 1) % per_epoch == 0) | (s + 1 == total)
            judged = judge(stopping, w, w.epoch_sum / jnp.maximum(w.epoch_count, 1).astype(w.epoch_sum.dtype))
            w = jax.tree.map(lambda a, b: jnp.where(end, a, b), judged, w)
        out = Carry(jax.tree.map(keep, c.params, new.params), jax.tree.map(keep, c.opt, new.opt),
                    jax.tree.map(keep, c.state, new.state), w)
        return out, jnp.where(frozen, c.watch.last.astype(loss.dtype), loss)

    def step(c: Carry, xs):
        i, ok, s = xs
        if not partial:
            return train(c, i, ok, s)
        # max_steps ends training inside an epoch: the steps after it are skipped, not computed
        # and discarded (the step index is the same for every student, so under vmap this
        # stays a branch). Their losses read 0 and are cut off by fit.
        out = jax.eval_shape(train, c, i, ok, s)[1]
        skip = lambda c: (c, (jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), out[0]),  # noqa: E731
                              None if trace is None else trace(c.params)))
        return jax.lax.cond(s < total, lambda c: train(c, i, ok, s), skip, c)

    carry, (values, traced) = jax.lax.scan(step, carry, (idx, valid, steps))
    return carry, values, traced


@functools.partial(jax.jit, static_argnames=("objective", "optimizer", "schedule", "n", "trace", "evaluate", "history",
                                             "stopping"))
def _block(carry, own, shared, keys, step_keys, step0, extra, eval_data, *, objective, optimizer, schedule, n,
           trace, evaluate, history, stopping=None):
    def one(c, o, k, d):
        c, losses, traced = run_block(objective, optimizer, schedule, n, c, merge(shared, o), k, d, step0, extra,
                                      trace, history, stopping)
        score = None if evaluate is None else evaluate(c.params, c.state, eval_data, extra)
        if stopping is not None and stopping.monitor == "held-out":  # one epoch per block: judged here
            c = c._replace(watch=judge(stopping, c.watch, score))
        return c, losses, traced, score

    return jax.vmap(one, in_axes=(0, 0, 0, None if step_keys is None else 0))(carry, own, keys, step_keys)


@dataclasses.dataclass(frozen=True)
class Fit:
    """What :func:`fit` returns.

    Attributes:
      params: trained parameters, leading axis N.
      state: the modules' non-trainable state (batch statistics), leading axis N.
      losses: (N, steps) the objective at every step, float32 on the host (None when not kept).
      eval_losses: (N, blocks) the evaluation after every block of epochs (None without one).
      trace: (N, steps, ...) what ``trace`` recorded after every step (None without one).
      steps: optimisation steps of the schedule (the cap, under a stopping rule).
      epochs_per_block: epochs between evaluations.
      convergence: how far each student went (:class:`Convergence`; None without a stopping
        rule). After a student stops, its losses, evaluations and trace repeat their last value.
    """

    params: Any
    state: Any
    losses: np.ndarray | None
    eval_losses: np.ndarray | None
    trace: Any
    steps: int
    epochs_per_block: int
    convergence: Convergence | None = None


def _rows(tree, lo: int, hi: int, size: int):
    """Students lo..hi of every leaf, padded with copies of the first to ``size`` rows (so every
    chunk compiles to the same shapes)."""
    def one(a):
        part = a[lo:hi]
        if hi - lo < size:
            part = jnp.concatenate([part, jnp.repeat(part[:1], size - (hi - lo), axis=0)])
        return part
    return jax.tree.map(one, tree)


def fit(objective: Objective, optimizer: optax.GradientTransformation, schedule: Schedule, params, data, *,
        own=None, state=None, order_keys=None, step_keys=None, extra=None, chunk: int | None = None,
        epochs_per_block: int | None = None, history: bool = True, trace=None, evaluate=None, eval_data=None,
        on_block: Callable[[int, int], None] | None = None, host: bool = False,
        stopping: Stopping | None = None, checkpoints: tuple[int, ...] = (),
        on_checkpoint: Callable[[int, int, int, Any], None] | None = None) -> Fit:
    """Train N students (validated entry point of the engine).

    Args:
      objective: the :data:`Objective`; a hashable callable (a module-level function or a
        frozen dataclass): it is a static argument, so the same objective reuses the compiled
        program.
      optimizer: an optax transformation (pass the same object again to reuse the program).
      schedule: epochs, batch size and the ragged-batch rule (:class:`Schedule`).
      params: the students' trainable parameters, leaves (N, ...).
      data: the fields every student shares, a batch record (a NamedTuple such as :class:`Batch`)
        of arrays with leading axis n, None in the fields it does not hold (or None: nothing
        shared).
      own: each student's own fields, a record of the same type with arrays (N, n, ...)
        (targets, example weights), or None.
      state: the modules' non-trainable state, leaves (N, ...) (default: none).
      order_keys: (N,) data-order keys, one per student: required with minibatches.
      step_keys: per-student key streams the objective gets at every step (the step folded in):
        a (N,) key array or a pytree of them (a dropout stream, a sampling stream). None: the
        objective gets None.
      extra: shared non-trained inputs for the objective (a teacher's parameters).
      chunk: students trained at a time on each device (bounds memory; None: all at once).
        At the same chunk a student's numbers do not depend on how many students there are;
        another chunk, or another device count, changes them only by float32 rounding (matrix
        products batched at another width; measured for a small ReLU MLP through this function,
        tests/test_sharding.py: the sharded program rounds elsewhere).
      epochs_per_block: epochs per compiled call (default all): progress, evaluation and
        Python-side work happen between blocks.
      history: keep the per-step losses (N x steps floats on the host).
      trace: optional ``trace(params) -> pytree`` recorded after every step (hashable).
      evaluate: optional ``evaluate(params, state, eval_data, extra) -> scalar`` after every
        block (hashable), e.g. the loss on held-out examples.
      on_block: optional ``on_block(steps_done, total_steps)`` after every block and chunk.
      host: return the trained parameters as host (NumPy) arrays, chunk by chunk, so device
        memory holds one chunk at a time.
      stopping: optional :class:`Stopping` rule, per student; default None: every student trains
        the schedule's whole budget. A "held-out" rule needs ``evaluate`` and trains one epoch
        per block. When every student of a chunk has stopped, its remaining blocks are not run.
      checkpoints: epochs (each 1 .. the last epoch run − 1, increasing) after which
        ``on_checkpoint(epoch, lo, hi, params)`` sees students lo..hi-1's parameters (leaves
        (hi - lo, ...)) as training passes them: a fit ladder along one run (the learning-rate
        schedule is the whole run's). Trains one epoch per block.

    Returns:
      :class:`Fit`.
    """
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("the students have no parameters.")
    N = leaves[0].shape[0]
    _check_record("data", data)
    _check_record("own", own)
    sizes = {a.shape[0] for a in jax.tree.leaves(data)} | {a.shape[1] for a in jax.tree.leaves(own)}
    if len(sizes) != 1:
        raise ValueError(f"every data array must hold the same number of examples; got leading sizes {sorted(sizes)}.")
    n = sizes.pop()
    for a in jax.tree.leaves(own):
        if a.shape[0] != N:
            raise ValueError(f"per-student data has {a.shape[0]} rows for {N} students.")
    if schedule.minibatch(n):
        if order_keys is None:
            raise ValueError("minibatch training draws a data order per student: pass order_keys, "
                             "one key per student from your own data-order stream.")
        order_keys = check_keys("order keys", order_keys, N)
    else:
        order_keys = jax.random.split(jax.random.key(0), N)  # full batch: the order is not used
    if step_keys is not None:
        step_keys = jax.tree.map(lambda k: check_keys("step keys", k, N), step_keys)
    state = nnx.State({}) if state is None else state
    epochs = schedule.epochs_run(n)
    if stopping is not None:
        if not isinstance(stopping, Stopping):
            raise ValueError(f"stopping must be an ensemble.Stopping rule, got {type(stopping).__name__}.")
        if stopping.grad_tol is not None and schedule.minibatch(n):
            raise ValueError("a gradient-norm stopping rule needs full-batch training (a minibatch gradient's "
                             "norm does not vanish at a stationary point); drop grad_tol or the batch size.")
        if stopping.monitor == "held-out":
            if evaluate is None:
                raise ValueError("a held-out stopping rule watches the evaluation: pass evaluate and eval_data.")
            if epochs_per_block not in (None, 1):
                raise ValueError("a held-out stopping rule is judged after every epoch: epochs_per_block must be 1.")
            epochs_per_block = 1
    checkpoints = tuple(checkpoints)
    if checkpoints:
        if on_checkpoint is None:
            raise ValueError("checkpoints need on_checkpoint(epoch, lo, hi, params) to see the students there.")
        for e in checkpoints:
            v.check_int("checkpoint epoch", e)
        if list(checkpoints) != sorted(set(checkpoints)) or checkpoints[-1] >= epochs:
            raise ValueError(f"checkpoints must be increasing epochs below the last epoch run ({epochs}); got "
                             f"{list(checkpoints)}.")
        epochs_per_block = 1
    per_block = epochs if epochs_per_block is None else min(v.check_int("epochs per block", epochs_per_block), epochs)
    c = N if chunk is None else min(v.check_int("chunk", chunk), N)
    d = sharding.device_count()
    width = c * d  # students per call: every device trains its chunk
    per_epoch = schedule.steps_per_epoch(n)
    total = schedule.total_steps(n)
    all_keys = jax.vmap(lambda k: epoch_keys(k, schedule.epochs))(order_keys)[:, :epochs]  # (N, E)
    out_params, out_state, out_losses, out_eval, out_trace, out_watch = [], [], [], [], [], []
    done = 0
    dtype = leaves[0].dtype if jnp.issubdtype(leaves[0].dtype, jnp.floating) else jnp.float32
    for lo in range(0, N, width):
        hi = min(lo + width, N)
        size = width if N > width else N
        watch = None if stopping is None else jax.tree.map(lambda a: jnp.broadcast_to(a, (size, *a.shape)),
                                                           watch_init(stopping, dtype))
        carry = Carry(_rows(params, lo, hi, size), None, _rows(state, lo, hi, size), watch)
        carry = carry._replace(opt=jax.vmap(optimizer.init)(carry.params))
        own_c, keys_c = _rows(own, lo, hi, size), _rows(all_keys, lo, hi, size)
        drop_c = None if step_keys is None else _rows(step_keys, lo, hi, size)
        losses, evals, traced = [], [], []
        for e0 in range(0, epochs, per_block):
            e1 = min(e0 + per_block, epochs)
            if stopping is not None and e0 > 0 and bool(np.all(np.asarray(carry.watch.converged)[: hi - lo])):
                # Every student of the chunk has stopped: the rest would only repeat their frozen
                # values (what a frozen student records), so it is not run.
                rest = min(epochs * per_epoch, total) - e0 * per_epoch
                last = np.asarray(carry.watch.last)[: hi - lo]
                if history:
                    losses.append(np.repeat(last[:, None], rest, axis=1).astype(losses[-1].dtype))
                if evaluate is not None:
                    evals += [evals[-1]] * (-(-(epochs - e0) // per_block))
                if trace is not None:
                    traced.append(jax.tree.map(lambda a: np.repeat(a[:, -1:], rest, axis=1), traced[-1]))
                done += rest * (hi - lo)
                if on_block is not None:
                    on_block(done, total * N)
                for e in checkpoints:  # frozen students pass the remaining checkpoints unchanged
                    if e > e0:
                        on_checkpoint(e, lo, hi, jax.tree.map(lambda a: a[: hi - lo], carry.params))
                break
            block = functools.partial(_block, objective=objective, optimizer=optimizer, schedule=schedule, n=n,
                                      trace=trace, evaluate=evaluate, history=history, stopping=stopping)
            carry, loss, tr, score = sharding.map_students(
                _Block(block), carry, own_c, keys_c[:, e0:e1], drop_c, jnp.int32(e0 * per_epoch), data, extra,
                eval_data, in_axes=(0, 0, 0, None if drop_c is None else 0, None, None, None, None))
            if history:
                losses.append(np.asarray(loss)[: hi - lo])
            if evaluate is not None:
                evals.append(np.asarray(score)[: hi - lo])
            if trace is not None:
                traced.append(jax.tree.map(lambda a: np.asarray(a)[: hi - lo], tr))
            done += (min(e1 * per_epoch, total) - e0 * per_epoch) * (hi - lo)
            if on_block is not None:
                on_block(done, total * N)
            if e1 in checkpoints:
                on_checkpoint(e1, lo, hi, jax.tree.map(lambda a: a[: hi - lo], carry.params))
        if stopping is not None:
            out_watch.append(jax.tree.map(lambda a: np.asarray(a)[: hi - lo], carry.watch))
        keep = (lambda a: np.asarray(a)[: hi - lo]) if host else (lambda a: a[: hi - lo])
        out_params.append(jax.tree.map(keep, carry.params))
        out_state.append(jax.tree.map(keep, carry.state))
        if history:
            out_losses.append(np.concatenate(losses, axis=1)[:, :total])
        if evaluate is not None:
            out_eval.append(np.stack(evals, axis=1))
        if trace is not None:
            out_trace.append(jax.tree.map(lambda *a: np.concatenate(a, axis=1)[:, :total], *traced))
    cat = np.concatenate if host else jnp.concatenate
    join = (lambda parts: parts[0]) if len(out_params) == 1 else (lambda parts: jax.tree.map(lambda *a: cat(a), *parts))
    convergence = None
    if stopping is not None:
        w = jax.tree.map(lambda *a: np.concatenate(a), *out_watch)
        convergence = Convergence(w.steps, w.converged, w.last, w.change)
    return Fit(join(out_params), join(out_state),
               np.concatenate(out_losses) if history else None,
               np.concatenate(out_eval) if evaluate is not None else None,
               jax.tree.map(lambda *a: np.concatenate(a), *out_trace) if trace is not None else None,
               total, per_block, convergence)


@dataclasses.dataclass(frozen=True)
class _Block:
    """The compiled block as a hashable positional function for :func:`sharding.map_students`
    (a ``functools.partial`` of :func:`_block` with the static settings bound)."""

    block: Any

    def __call__(self, carry, own, keys, step_keys, step0, data, extra, eval_data):
        return self.block(carry, own, data, keys, step_keys, step0, extra, eval_data)

    def __hash__(self):
        p = self.block
        return hash((p.func, tuple(sorted(p.keywords.items()))))

    def __eq__(self, other):
        return isinstance(other, _Block) and self.block.func is other.block.func and \
            self.block.keywords == other.block.keywords


# --- the common case: a per-example loss on (X, Y) ------------------------------------------------


def _refuse_unsupported(graphdef, state) -> None:
    """Refuse module state the engine would mis-train: variables that are neither parameters
    nor batch statistics nor random-stream state (they would be frozen silently)."""
    other = nnx.filter_state(state, nnx.Not(nnx.Any(nnx.Param, nnx.BatchStat, nnx.RngState)))
    names = sorted({type(x).__name__ for x in jax.tree.leaves(other, is_leaf=lambda x: isinstance(x, nnx.Variable))})
    if names:
        raise ValueError(f"the module holds {', '.join(names)} variables, which ensemble training would keep "
                         "frozen; only nnx.Param (trained), nnx.BatchStat (updated) and dropout streams are supported.")


@dataclasses.dataclass(frozen=True)
class PerExample:
    """The :data:`Objective` of :func:`train`: the ``weights``-weighted mean of a per-example
    loss ``loss(model, x, y) -> (b,)`` over the valid examples of the batch (a :class:`Batch`)."""

    graphdef: Any
    loss: Loss
    dropout: bool = False   # reseed the module's dropout stream with the step's key

    def __call__(self, params, state, batch, valid, key, extra, step):
        # copy: the module's variables belong to this trace, so dropout streams and batch
        # statistics can be updated in it.
        model = nnx.merge(self.graphdef, params, state, copy=True)
        if self.dropout:
            nnx.reseed(model, dropout=key)
        model.train()
        values = self.loss(model, batch.x, batch.y)
        b = batch.x.shape[0]
        if values.shape != (b,):
            raise ValueError(f"the loss must return one value per example, shape ({b},); it returned shape "
                             f"{values.shape} (a model output of shape (b, 1) against targets of shape (b,) "
                             "broadcasts to (b, b): squeeze the output or give targets of the output's shape).")
        w = batch.weights * valid.astype(batch.weights.dtype)
        new_state = nnx.state(model, nnx.Not(nnx.Param))
        return jnp.sum(w * values) / jnp.maximum(jnp.sum(w), jnp.finfo(w.dtype).tiny), new_state


def init(make: Callable[[nnx.Rngs], nnx.Module], keys) -> tuple[Any, Any]:
    """N students, one per key: ``make(rngs)`` builds one module from ``nnx.Rngs(params=key,
    dropout=...)`` (the dropout stream is a placeholder: :func:`train` reseeds it every step from
    its own ``dropout_keys``).

    Returns:
      ``(graphdef, states)``: the shared graph definition and the state with a leading axis N.
    """
    keys = check_keys("init keys", keys)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: make(nnx.Rngs(params=0, dropout=0))))
    return graphdef, jax.vmap(lambda k: nnx.split(make(nnx.Rngs(params=k, dropout=0)))[1])(keys)


def apply(graphdef, state, X):
    """One student's outputs in evaluation mode (core): running averages, no dropout."""
    model = nnx.merge(graphdef, state)
    model.eval()
    return model(X)


def train(graphdef, states, loss: Loss, X, Y, *, optimizer: optax.GradientTransformation, epochs: int,
          weights=None, batch_size: int | None = None, order_keys=None, dropout_keys=None,
          chunk: int | None = None, drop_last: bool = True):
    """Train N students at once with a per-example loss (validated entry point).

    Args:
      graphdef, states: from :func:`init` (leaves with a leading student axis N).
      loss: per-example losses ``loss(model, x, y) -> (b,)``, a module-level function (it is
        a static argument: the same function reuses the compiled program). Another shape is
        refused when the program is traced (a (b, 1) output against (b,) targets would
        broadcast to (b, b) and train every student to the mean).
      X: shared inputs, (n, ...).
      Y: targets per student (N, n, ...); anything else of leading size n is shared by all.
      optimizer: an optax transformation; pass the same object again to reuse the compiled
        program.
      epochs: passes over the data.
      weights: per-student example weights (N, n) (e.g. bootstrap counts), default ones.
      batch_size: minibatch size (None: full batch).
      order_keys: (N,) data-order keys, one per student: required with minibatches.
      dropout_keys: (N,) dropout keys, one per student: required when the module has dropout
        (an ``nnx.Dropout`` with a positive rate).
      chunk: students per chunk on each device (bounds memory; None: all at once).
      drop_last: with minibatches, drop each epoch's ragged last batch (default) or keep it.

    Returns:
      Trained states (parameters and batch statistics), leading axis N.
    """
    leaves = jax.tree.leaves(states)
    if not leaves:
        raise ValueError("states has no parameters.")
    N = leaves[0].shape[0]
    X = jnp.asarray(X)
    n = X.shape[0]
    Y = jnp.asarray(Y)
    if Y.shape[:2] != (N, n):
        if Y.shape[:1] != (n,):
            raise ValueError(f"targets have shape {Y.shape}; expected ({N}, {n}, ...) per student or ({n}, ...) shared.")
        Y = jnp.broadcast_to(Y, (N, *Y.shape))
    weights = jnp.ones((N, n), X.dtype) if weights is None else jnp.asarray(
        v.as_float_array("example weights", weights, ndim=2), X.dtype)
    if weights.shape != (N, n):
        raise ValueError(f"example weights have shape {weights.shape}; expected ({N}, {n}).")
    _refuse_unsupported(graphdef, states)
    params, rest = nnx.filter_state(states, nnx.Param), nnx.filter_state(states, nnx.Not(nnx.Param))
    dropout = _dropout_rate(graphdef, states) > 0
    if dropout and dropout_keys is None:
        raise ValueError("the module has dropout: pass dropout_keys, one key per student from your own dropout "
                         "stream (each step uses a fresh key folded from it).")
    if dropout and not jax.tree.leaves(nnx.filter_state(states, nnx.RngState)):
        raise ValueError("the module's nnx.Dropout has no random stream: build it with "
                         "nnx.Dropout(rate, rngs=rngs) so that training can reseed it every step.")
    schedule = Schedule(epochs, batch_size, drop_last)
    out = fit(PerExample(graphdef, loss, dropout), optimizer, schedule, params, Batch(x=X),
              own=Batch(y=Y, weights=weights), state=rest, order_keys=order_keys,
              step_keys=dropout_keys if dropout else None, chunk=chunk, history=False)
    return nnx.merge_state(out.params, out.state)


def _dropout_rate(graphdef, states) -> float:
    """The largest dropout rate in the module (0 without dropout)."""
    one = jax.tree.map(lambda a: a[0], states)
    model = nnx.merge(graphdef, one)
    return max([m.rate for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Dropout)] or [0.0])


@functools.partial(jax.jit, static_argnums=(0,))
def _predict(graphdef, states, X):
    return jax.vmap(apply, in_axes=(None, 0, None))(graphdef, states, X)


def predict(graphdef, states, X, *, chunk: int | None = None):
    """Every student's outputs on shared inputs, in evaluation mode: X (m, ...) -> (N, m, ...)."""
    return sharding.map_students(_predict, graphdef, states, jnp.asarray(X), in_axes=(None, 0, None),
                                 static_argnums=(0,), block=chunk)


def stack(states: list) -> Any:
    """Several ensembles' states (same module) as one: concatenated on the student axis, so
    students that share an init train in one call (split the result back with :func:`split`)."""
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *states)


def split(states, sizes: list[int]) -> list:
    """Undo :func:`stack`: the first ``sizes[0]`` students, the next ``sizes[1]``, ..."""
    bounds = np.cumsum([0, *sizes])
    return [jax.tree.map(lambda a: a[lo:hi], states) for lo, hi in zip(bounds[:-1], bounds[1:])]


def steps_for(n: int, epochs: int, batch_size: int | None, drop_last: bool = True) -> int:
    """Optimisation steps of ``epochs`` passes over n examples (:meth:`Schedule.total_steps`)."""
    return Schedule(epochs, batch_size, drop_last).total_steps(n)


