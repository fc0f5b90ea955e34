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
    """mlp.train_ensemble on its general path is ensemble.train with MLP and its loss: the same
    engine steps (the two compiled programs keep different state, so XLA may fuse their
    arithmetic differently: float32 rounding apart, and nothing more)."""
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
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    # A different step (learning rate 0.011) is far outside that tolerance.
    other = ensemble.train(graphdef, states, mlp.LOSSES["mse"], X, Y, optimizer=optax.adam(0.011), epochs=20)
    assert max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(other))) > 1e-3


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


class WithDropout(nnx.Module):
    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.lin = nnx.Linear(d, 1, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.lin(self.drop(x))[:, 0]


class WithBatchNorm(nnx.Module):
    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.norm = nnx.BatchNorm(d, momentum=0.5, rngs=rngs)
        self.lin = nnx.Linear(d, 1, rngs=rngs)

    def __call__(self, x):
        return self.lin(self.norm(x))[:, 0]


def squared(model, x, y):
    return (model(x) - y) ** 2


class Column(nnx.Module):
    """Returns (b, 1), the shape that broadcasts against (b,) targets."""

    def __init__(self, d: int, *, rngs: nnx.Rngs):
        self.lin = nnx.Linear(d, 1, rngs=rngs)

    def __call__(self, x):
        return self.lin(x)


def test_a_loss_of_the_wrong_shape_is_refused_when_traced():
    """A (b, 1) output against (b,) targets would broadcast to (b, b) and train to the mean."""
    X, Y = _data()
    graphdef, states = ensemble.init(lambda rngs: Column(3, rngs=rngs), jax.random.split(jax.random.key(0), 5))
    # A user's default (rank promotion allowed; the tests otherwise raise on it).
    with jax.numpy_rank_promotion("allow"), \
            pytest.raises(ValueError, match="one value per example, shape \\(40,\\); it returned shape \\(40, 40\\)"):
        ensemble.train(graphdef, states, squared, X, Y, optimizer=optax.adam(0.01), epochs=2)


def test_dropout_trains_with_its_own_stream_and_predict_is_deterministic():
    X, Y = _data()
    keys = jax.random.split(jax.random.key(0), 5)
    graphdef, states = ensemble.init(lambda rngs: WithDropout(3, rngs=rngs), keys)
    tx = optax.adam(0.01)
    with pytest.raises(ValueError, match="pass dropout_keys"):
        ensemble.train(graphdef, states, squared, X, Y, optimizer=tx, epochs=3)
    drop = jax.random.split(jax.random.key(1), 5)
    a = ensemble.train(graphdef, states, squared, X, Y, optimizer=tx, epochs=3, dropout_keys=drop)
    b = ensemble.train(graphdef, states, squared, X, Y, optimizer=tx, epochs=3, dropout_keys=drop)
    c = ensemble.train(graphdef, states, squared, X, Y, optimizer=tx, epochs=3,
                       dropout_keys=jax.random.split(jax.random.key(2), 5))
    weights = lambda s: np.asarray(s["lin"]["kernel"][...])  # noqa: E731
    np.testing.assert_array_equal(weights(a), weights(b))          # same keys, same training
    assert not np.allclose(weights(a), weights(c))                  # other dropout keys, other training
    # Evaluation mode: no dropout, so predictions are the plain linear map of the trained weights.
    preds = np.asarray(ensemble.predict(graphdef, a, X))
    kernel, bias = weights(a), np.asarray(a["lin"]["bias"][...])
    np.testing.assert_allclose(preds, np.einsum("nd,sdo->sn", X, kernel) + bias[:, None, 0], rtol=1e-5, atol=1e-6)


def test_batch_statistics_are_updated_in_training_and_used_in_predict():
    X, Y = _data()
    X = X * 3.0 + 2.0  # mean 2, scale 3: far from BatchNorm's initial running statistics (0, 1)
    graphdef, states = ensemble.init(lambda rngs: WithBatchNorm(3, rngs=rngs), jax.random.split(jax.random.key(0), 5))
    trained = ensemble.train(graphdef, states, squared, X, Y, optimizer=optax.adam(0.01), epochs=20)
    mean = np.asarray(trained["norm"]["mean"][...])                # (5, 3) running means, momentum 0.5
    np.testing.assert_allclose(mean, np.broadcast_to(X.mean(0), mean.shape), rtol=1e-4)
    # predict normalises with the running statistics (evaluation mode), not the batch's.
    one = nnx.merge(graphdef, jax.tree.map(lambda a: a[0], trained))
    one.eval()
    np.testing.assert_allclose(np.asarray(ensemble.predict(graphdef, trained, X[:4]))[0], np.asarray(one(X[:4])),
                               rtol=1e-5)
    one.train()
    assert not np.allclose(np.asarray(one(X[:4])), np.asarray(ensemble.predict(graphdef, trained, X[:4]))[0])


def test_unsupported_module_state_is_refused_by_name():
    class Counter(nnx.Variable):
        pass

    class Counting(nnx.Module):
        def __init__(self, d, *, rngs):
            self.lin = nnx.Linear(d, 1, rngs=rngs)
            self.calls = Counter(jnp.zeros(()))

        def __call__(self, x):
            return self.lin(x)[:, 0]

    X, Y = _data()
    graphdef, states = ensemble.init(lambda rngs: Counting(3, rngs=rngs), jax.random.split(jax.random.key(0), 5))
    with pytest.raises(ValueError, match="holds Counter variables"):
        ensemble.train(graphdef, states, squared, X, Y, optimizer=optax.adam(0.01), epochs=2)


def test_epochs_are_permutations_and_the_ragged_batch_is_kept_or_dropped():
    """Every epoch visits every example exactly once (kept tail) or all but n mod B (dropped
    tail), in a fresh order per epoch."""
    key = jax.random.key(4)
    keep = ensemble.Schedule(3, batch_size=4, drop_last=False)
    drop = ensemble.Schedule(3, batch_size=4)
    seen = []
    for k in ensemble.epoch_keys(key, 3):
        idx, valid = ensemble.epoch_batches(k, 10, keep)
        assert idx.shape == (3, 4) and int(valid.sum()) == 10 and not bool(valid[-1, -1])
        got = np.asarray(idx)[np.asarray(valid)]
        np.testing.assert_array_equal(np.sort(got), np.arange(10))
        seen.append(got.tolist())
        d_idx, d_valid = ensemble.epoch_batches(k, 10, drop)
        assert d_idx.shape == (2, 4) and bool(d_valid.all())
        np.testing.assert_array_equal(np.asarray(d_idx).ravel(), got[:8])
    assert seen[0] != seen[1] != seen[2]
    assert keep.total_steps(10) == 9 and drop.total_steps(10) == 6
    assert ensemble.Schedule(3, 4, drop_last=False, max_steps=5).total_steps(10) == 5


def test_fit_refuses_a_batch_that_is_not_a_record():
    graphdef, states = ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), jax.random.split(jax.random.key(1), 2))
    with pytest.raises(ValueError, match="batch record"):
        ensemble.fit(ensemble.PerExample(graphdef, huber), optax.sgd(0.05), ensemble.Schedule(1), states,
                     {"x": jnp.ones((4, 3))})


def test_merge_gives_each_student_the_shared_fields_and_its_own():
    shared, own = ensemble.Batch(x=1), ensemble.Batch(y=2, weights=3)
    assert ensemble.merge(shared, own) == ensemble.Batch(1, 2, 3)
    assert ensemble.merge(shared, None) is shared and ensemble.merge(None, own) is own


def test_fit_keeps_the_loss_of_every_step_and_stops_at_max_steps():
    X, Y = _data(n=10)
    keys = jax.random.split(jax.random.key(1), 5)
    graphdef, states = ensemble.init(lambda rngs: Quadratic(3, rngs=rngs), keys)
    obj = ensemble.PerExample(graphdef, huber)
    tx = optax.sgd(0.05)
    order = jax.random.split(jax.random.key(2), 5)
    shared, own = ensemble.Batch(x=jnp.asarray(X)), ensemble.Batch(y=jnp.asarray(Y), weights=jnp.ones((5, 10)))
    full = ensemble.fit(obj, tx, ensemble.Schedule(3, 4, drop_last=False), states, shared, own=own, order_keys=order)
    cut = ensemble.fit(obj, tx, ensemble.Schedule(3, 4, drop_last=False, max_steps=5), states, shared,
                       own=own, order_keys=order, epochs_per_block=1)
    assert full.losses.shape == (5, 9) and cut.losses.shape == (5, 5) and cut.steps == 5
    np.testing.assert_allclose(cut.losses, full.losses[:, :5], rtol=1e-6)
    # The parameters after 5 steps: the same as stepping by hand with the same batches.
    ref = []
    for i in range(5):
        params, opt = jax.tree.map(lambda a: a[i], states), None
        opt = tx.init(params)
        steps = 0
        for k in ensemble.epoch_keys(order[i], 3):
            idx, valid = ensemble.epoch_batches(k, 10, ensemble.Schedule(3, 4, drop_last=False))
            for b, ok in zip(np.asarray(idx), np.asarray(valid)):
                if steps == 5:
                    break
                b = b[ok]
                g = jax.grad(lambda p: jnp.mean(huber(nnx.merge(graphdef, p), X[b], Y[i, b])))(params)
                u, opt = tx.update(g, opt, params)
                params = optax.apply_updates(params, u)
                steps += 1
        ref.append(params)
    for i in range(5):
        for a, b in zip(jax.tree.leaves(ref[i]), jax.tree.leaves(jax.tree.map(lambda a: a[i], cut.params))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
