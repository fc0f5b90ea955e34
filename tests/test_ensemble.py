"""The generic ensemble API: any NNX module, any loss, any optax optimizer, explicit keys."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxkd import rng as jkrng
from jaxkd.students import ensemble, mlp


class Quadratic(nnx.Module):
    """A model that is not an MLP: y = a x^2 + b x + c per output, from its own init."""

    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.a = nnx.Param(0.1 * jax.random.normal(rngs.params(), (d,)))
        self.b = nnx.Param(jax.random.normal(rngs.params(), (d,)))
        self.c = nnx.Param(jnp.zeros(()))

    def __call__(self, x):
        return x**2 @ self.a[...] + x @ self.b[...] + self.c[...]


def huber(model, x, y):
    return optax.huber_loss(model(x), y, delta=0.5)


def _data(n=40, d=3, N=5):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = (X @ rng.normal(size=d) + rng.normal(size=(N, n))).astype(np.float32)
    return X, Y


def test_custom_module_and_loss_equal_a_hand_written_loop():
    X, Y = _data()
    keys = jax.random.split(jax.random.key(1), 5)
    graphdef, states = ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), keys)
    tx = optax.sgd(0.05, momentum=0.9)
    trained = ensemble.train(graphdef, states, huber, X, Y, optimizer=tx, epochs=30, batch_size=8,
                             order_keys=jax.random.split(jax.random.key(2), 5))
    for i in (0, 3):  # what a user would write for one student, by hand
        model = Quadratic(3, rngs=nnx.Rngs(params=keys[i]))
        params = nnx.state(model)
        opt = tx.init(params)
        perms = jax.vmap(lambda k: jkrng.permutation(k, 40))(jax.random.split(jax.random.split(jax.random.key(2), 5)[i], 30))
        for perm in np.asarray(perms):
            for j in range(5):
                idx = perm[j * 8:(j + 1) * 8]
                grads = jax.grad(lambda p: jnp.mean(huber(nnx.merge(graphdef, p), X[idx], Y[i, idx])))(params)
                updates, opt = tx.update(grads, opt, params)
                params = optax.apply_updates(params, updates)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(jax.tree.map(lambda t: t[i], trained))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    preds = ensemble.predict(graphdef, trained, X[:7])
    assert preds.shape == (5, 7)


@pytest.mark.parametrize("n", [5, 3000])
def test_minibatch_permutations_are_uniform(n):
    """Every ordering of 5 items equally often (chi-square over the 120 orderings); above the
    packed-sort range (jax.random.permutation there) the first item uniform over deciles; every
    draw a permutation, as int32."""
    from scipy import stats

    draws = 60_000 if n == 5 else 400
    perms = np.asarray(jax.jit(jax.vmap(lambda k: jkrng.permutation(k, n)))(
        jax.random.split(jax.random.key(11), draws)))
    assert perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(n), perms.shape))
    if n == 5:
        codes = (perms * 5 ** np.arange(5)).sum(1)
        counts = np.unique(codes, return_counts=True)[1]
        assert len(counts) == 120
        assert stats.chisquare(counts).pvalue > 1e-3
    else:
        first = np.bincount(perms[:, 0] * 10 // n, minlength=10)  # the first item's decile
        assert stats.chisquare(first).pvalue > 1e-3


def test_mlp_is_an_instance_of_the_ensemble():
    """mlp.train_ensemble on its general path gives exactly ensemble.train with MLP and its loss."""
    X, Y = _data()
    cfg = mlp.TrainConfig(widths=(3, 8, 4, 1), learning_rate=0.01, epochs=20)
    keys = jax.random.split(jax.random.key(3), 5)
    init = mlp.init_ensemble(cfg.widths, keys)
    graphdef, states = ensemble.init(lambda rngs: mlp.MLP(cfg.widths, rngs=rngs), keys)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(states)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ours = mlp.train_ensemble(cfg, init, X, Y)
    generic = ensemble.train(graphdef, states, mlp.LOSSES["mse"], X, Y, optimizer=optax.adam(0.01), epochs=20)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(generic)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_stacked_ensembles_train_as_one_call():
    """Two target sets from one init: one call with 2N students equals two calls."""
    X, Y = _data(N=4)
    graphdef, states = ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), jax.random.split(jax.random.key(4), 4))
    tx = optax.adam(0.01)
    both = ensemble.train(graphdef, ensemble.stack([states, states]), huber, X, np.concatenate([Y, -Y]),
                          optimizer=tx, epochs=10)
    first, second = ensemble.split(both, [4, 4])
    for part, targets in ((first, Y), (second, -Y)):
        alone = ensemble.train(graphdef, states, huber, X, targets, optimizer=tx, epochs=10)
        for a, b in zip(jax.tree.leaves(part), jax.tree.leaves(alone)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_keys_are_explicit_and_inputs_checked():
    X, Y = _data()
    with pytest.raises(ValueError, match="typed PRNG keys"):
        ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), np.zeros((5, 2), np.uint32))
    graphdef, states = ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), jax.random.split(jax.random.key(0), 5))
    tx = optax.adam(0.01)
    with pytest.raises(ValueError, match="pass order_keys"):
        ensemble.train(graphdef, states, huber, X, Y, optimizer=tx, epochs=2, batch_size=8)
    with pytest.raises(ValueError, match="3 order keys for 5 students"):
        ensemble.train(graphdef, states, huber, X, Y, optimizer=tx, epochs=2, batch_size=8,
                       order_keys=jax.random.split(jax.random.key(0), 3))
    with pytest.raises(ValueError, match="targets have shape"):
        ensemble.train(graphdef, states, huber, X, Y[:, :10], optimizer=tx, epochs=2)
    with pytest.raises(ValueError, match="example weights have shape"):
        ensemble.train(graphdef, states, huber, X, Y, optimizer=tx, epochs=2, weights=np.ones((5, 3)))
