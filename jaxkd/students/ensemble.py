"""N copies of any Flax NNX module trained at once with any loss and any optax optimizer.

Students are an array axis: one student is a pure function of its parameters, the ensemble is
``jax.vmap`` of it over stacked states (``nnx.split`` once, ``nnx.merge`` inside the loss), and
the student axis is split over devices and run in chunks by :func:`jaxkd.sharding.map_students`.
Every random input is explicit: ``init`` takes one key per student, minibatch training one
data-order key per student.

    graphdef, states = ensemble.init(lambda rngs: MyNet(rngs=rngs), init_keys)       # (N, ...) leaves
    states = ensemble.train(graphdef, states, my_loss, X, Y, optimizer=optax.adam(1e-3), epochs=100)
    preds = ensemble.predict(graphdef, states, X_test)                               # (N, m, ...)

``my_loss(model, x, y) -> (b,)`` per-example losses; each student minimises their
``weights``-weighted mean. :mod:`jaxkd.students.mlp` is one instance (a ReLU MLP with squared
error or cross-entropy), plus a fused fast path for the study's one-hidden-layer students.

Entry points (:func:`init`, :func:`train`, :func:`predict`) validate their inputs; :func:`fit_one`
is the unvalidated core (jit/vmap-safe) they are built on.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxkd import _validation as v
from jaxkd import rng, sharding

Loss = Callable[[nnx.Module, jax.Array, jax.Array], jax.Array]


def _keys(name: str, keys) -> jax.Array:
    keys = jnp.asarray(keys)
    if keys.ndim != 1 or not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError(f"{name} must be a 1-D array of typed PRNG keys, one per student "
                         "(jax.random.split(jax.random.key(seed), N)).")
    return keys


def init(make: Callable[[nnx.Rngs], nnx.Module], keys) -> tuple[Any, Any]:
    """N students, one per key: ``make(rngs)`` builds one module from ``nnx.Rngs(params=key)``.

    Returns:
      ``(graphdef, states)``: the shared graph definition and parameters with a leading axis N.
    """
    keys = _keys("init keys", keys)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: make(nnx.Rngs(0))))
    return graphdef, jax.vmap(lambda k: nnx.split(make(nnx.Rngs(params=k)))[1])(keys)


def apply(graphdef, state, X):
    """One student's outputs (core): ``nnx.merge(graphdef, state)(X)``."""
    return nnx.merge(graphdef, state)(X)


def fit_one(graphdef, loss: Loss, optimizer: optax.GradientTransformation, epochs: int,
            batch_size: int | None, params, X, y, weights, order_key):
    """Train one student (core: no validation; vmap it over students).

    Args:
      graphdef: the module's graph definition; ``params`` its state.
      loss: per-example losses ``loss(model, x, y) -> (b,)``.
      optimizer: any optax transformation.
      epochs: passes over the data. batch_size: None for full batch, else the minibatch size
        (each epoch a fresh permutation from ``order_key``, :func:`jaxkd.rng.permutation`;
        the ragged tail is dropped).
      X: inputs (n, ...). y: targets (n, ...). weights: per-example weights (n,).
      order_key: this student's data-order key (None for full batch).

    Returns:
      Trained parameters.
    """
    def loss_fn(p, idx):
        w = weights[idx]
        return jnp.sum(w * loss(nnx.merge(graphdef, p), X[idx], y[idx])) / jnp.sum(w)

    def step(carry, idx):
        p, opt = carry
        grads = jax.grad(loss_fn)(p, idx)
        # optax's Adam bias correction mixes its int32 step count with floats; allow that
        # promotion there only (the tests run everything else with strict promotion).
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = optimizer.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), None

    n = X.shape[0]
    if batch_size is None or batch_size >= n:
        batches = jnp.broadcast_to(jnp.arange(n), (epochs, 1, n))
    else:
        per_epoch = n // batch_size
        perms = jax.vmap(lambda k: rng.permutation(k, n))(jax.random.split(order_key, epochs))
        batches = perms[:, : per_epoch * batch_size].reshape(epochs, per_epoch, batch_size)
    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), batches.reshape(-1, batches.shape[-1]))
    return params


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _fit(graphdef, loss, optimizer, epochs, batch_size, params, X, Y, weights, order_keys):
    keys_axis = None if order_keys is None else 0
    one = functools.partial(fit_one, graphdef, loss, optimizer, epochs, batch_size)
    return jax.vmap(one, in_axes=(0, None, 0, 0, keys_axis))(params, X, Y, weights, order_keys)


def train(graphdef, states, loss: Loss, X, Y, *, optimizer: optax.GradientTransformation, epochs: int,
          weights=None, batch_size: int | None = None, order_keys=None, chunk: int | None = None):
    """Train N students at once (validated entry point).

    Args:
      graphdef, states: from :func:`init` (leaves with a leading student axis N).
      loss: per-example losses ``loss(model, x, y) -> (b,)``, a module-level function (it is
        a static argument: the same function reuses the compiled program).
      X: shared inputs, (n, ...).
      Y: targets per student (N, n, ...); anything else of leading size n is shared by all.
      optimizer: an optax transformation; pass the same object again to reuse the compiled
        program.
      epochs: passes over the data.
      weights: per-student example weights (N, n) (e.g. bootstrap counts), default ones.
      batch_size: minibatch size (None: full batch).
      order_keys: (N,) data-order keys, one per student: required with minibatches.
      chunk: students per chunk on each device (bounds memory; None: all at once).

    Returns:
      Trained states, leading axis N.
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
    v.check_int("epochs", epochs)
    minibatch = batch_size is not None and v.check_int("batch size", batch_size) < n
    if minibatch and order_keys is None:
        raise ValueError("minibatch training draws a data order per student: pass order_keys, "
                         "one key per student from your own data-order stream.")
    if order_keys is not None:
        order_keys = _keys("order keys", order_keys)
        if order_keys.shape[0] != N:
            raise ValueError(f"{order_keys.shape[0]} order keys for {N} students.")
    if chunk is not None:
        v.check_int("chunk", chunk)
    return sharding.map_students(_fit, graphdef, loss, optimizer, epochs, batch_size, states, X, Y, weights,
                                 order_keys if minibatch else None,
                                 in_axes=(None, None, None, None, None, 0, None, 0, 0, 0),
                                 static_argnums=(0, 1, 2, 3, 4), block=chunk)


@functools.partial(jax.jit, static_argnums=(0,))
def _predict(graphdef, states, X):
    return jax.vmap(apply, in_axes=(None, 0, None))(graphdef, states, X)


def predict(graphdef, states, X, *, chunk: int | None = None):
    """Every student's outputs on shared inputs: X (m, ...) -> (N, m, ...)."""
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
