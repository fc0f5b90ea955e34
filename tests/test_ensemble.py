"""The generic ensemble API: any NNX module, any loss, any optax optimizer, explicit keys."""

import dataclasses

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


# --- stopping rules: convergence per student ------------------------------------------------------


def _regression_ensemble(N=8, n=64, seed=0):
    """N ReLU MLPs (3 -> 8 -> 1) from their own inits on one regression set, full batch."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1).astype(np.float32)
    graphdef, states = ensemble.init(lambda rngs: mlp.MLP((3, 8, 1), rngs=rngs), jax.random.split(jax.random.key(seed), N))
    objective = ensemble.PerExample(graphdef, mlp.LOSSES["mse"])
    data, own = ensemble.Batch(x=jnp.asarray(X)), ensemble.Batch(y=jnp.broadcast_to(jnp.asarray(y), (N, n)),
                                                              weights=jnp.ones((N, n)))
    return objective, nnx.filter_state(states, nnx.Param), data, own


TX = optax.adam(1e-2)
RULE = ensemble.Stopping(tol=2e-2, window=5)


def _close(a, b, i=None, rtol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = (np.asarray(x), np.asarray(y)) if i is None else (np.asarray(x[i]), np.asarray(y[i]))
        if not np.allclose(x, y, rtol=rtol, atol=1e-7):
            return False
    return True


def test_each_student_stops_where_its_own_loss_stops_moving_and_is_frozen_there():
    """Full batch, so one step is one epoch and the recorded loss is the epoch's loss. A student
    that converged stopped at the first epoch k > window with |L_k - L_(k-w)| / |L_(k-w)| < tol
    (recomputed here from its recorded losses), its parameters are those of the same ensemble
    trained a fixed k steps (to float32 rounding; not those of the whole budget), and its loss
    reads its final value from then on; a capped student took every step."""
    objective, params, data, own = _regression_ensemble()
    fit = ensemble.fit(objective, TX, ensemble.Schedule(400), params, data, own=own, stopping=RULE, epochs_per_block=50)
    c, w = fit.convergence, RULE.window
    assert 0 < c.converged.sum() < len(c.converged)  # both kinds, or the test shows nothing
    full = ensemble.fit(objective, TX, ensemble.Schedule(400), params, data, own=own)
    for i in np.flatnonzero(c.converged):
        k = int(c.steps[i])
        L = fit.losses[i]
        rel = lambda e: abs(L[e - 1] - L[e - 1 - w]) / abs(L[e - 1 - w])  # noqa: E731 (epoch e, 1-based)
        assert rel(k) < RULE.tol and all(rel(e) >= RULE.tol for e in range(w + 1, k))
        assert c.change[i] == pytest.approx(rel(k), rel=1e-5) and c.final_loss[i] == L[k - 1]
        assert np.all(L[k:] == L[k - 1])
        fixed = ensemble.fit(objective, TX, ensemble.Schedule(400, max_steps=k), params, data, own=own)
        assert _close(fit.params, fixed.params, i) and not _close(fit.params, full.params, i)
    for i in np.flatnonzero(~c.converged):
        assert c.steps[i] == 400 and c.change[i] >= RULE.tol and _close(fit.params, full.params, i)


def test_stopping_is_the_same_in_blocks_in_chunks_and_when_a_chunk_has_all_stopped():
    """Blocks of epochs carry the rule's state (bitwise the same as one block); chunks of
    students stop at the same steps (their numbers differ by float32 rounding only, as without
    a rule); a chunk whose students have all stopped skips its remaining blocks and reports what
    running them would have (the frozen losses)."""
    objective, params, data, own = _regression_ensemble()
    one = ensemble.fit(objective, TX, ensemble.Schedule(400), params, data, own=own, stopping=RULE)
    blocks = ensemble.fit(objective, TX, ensemble.Schedule(400), params, data, own=own, stopping=RULE,
                          epochs_per_block=7)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(blocks.params)))
    assert np.array_equal(one.losses, blocks.losses) and np.array_equal(one.convergence.steps, blocks.convergence.steps)
    chunks = ensemble.fit(objective, TX, ensemble.Schedule(400), params, data, own=own, stopping=RULE, chunk=1,
                          epochs_per_block=20)
    assert np.array_equal(chunks.convergence.steps, one.convergence.steps)
    assert np.array_equal(chunks.convergence.converged, one.convergence.converged)
    assert _close(chunks.params, one.params, rtol=1e-4)
    np.testing.assert_allclose(chunks.losses, one.losses, rtol=1e-4)


def test_a_rule_that_never_holds_trains_the_whole_budget_and_inputs_are_checked():
    objective, params, data, own = _regression_ensemble(N=3)
    plain = ensemble.fit(objective, TX, ensemble.Schedule(60), params, data, own=own)
    capped = ensemble.fit(objective, TX, ensemble.Schedule(60), params, data, own=own,
                          stopping=ensemble.Stopping(tol=1e-12, window=5))
    assert not capped.convergence.converged.any() and np.all(capped.convergence.steps == 60)
    assert _close(plain.params, capped.params) and capped.convergence.converged_share == 0.0
    for bad, match in ((dict(tol=0.0), "stopping tolerance"), (dict(window=0), "stopping window"),
                       (dict(monitor="test"), "stopping monitor"), (dict(grad_tol=-1.0), "gradient-norm")):
        with pytest.raises(ValueError, match=match):
            ensemble.Stopping(**bad)
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(ValueError, match="needs full-batch training"):
        ensemble.fit(objective, TX, ensemble.Schedule(5, batch_size=8), params, data, own=own, order_keys=keys,
                     stopping=ensemble.Stopping(grad_tol=1e-3))
    with pytest.raises(ValueError, match="pass evaluate and eval_data"):
        ensemble.fit(objective, TX, ensemble.Schedule(5), params, data, own=own,
                     stopping=ensemble.Stopping(monitor="held-out"))
    with pytest.raises(ValueError, match="an ensemble.Stopping rule"):
        ensemble.fit(objective, TX, ensemble.Schedule(5), params, data, own=own, stopping={"tol": 1e-3})


@dataclasses.dataclass(frozen=True)
class HeldOutMSE:
    """An ``evaluate`` of the engine: the mean squared error on held-out (x, y)."""

    graphdef: object

    def __call__(self, params, state, data, extra):
        model = nnx.merge(self.graphdef, params, state)
        return jnp.mean((model(data.x)[:, 0] - data.y) ** 2)


def test_held_out_and_gradient_norm_rules():
    """A held-out rule judges the evaluation after every epoch (its change recomputed from the
    recorded evaluations); a gradient-norm rule stops a full-batch student whose gradient is
    below the tolerance (checked against the gradient of the frozen parameters)."""
    objective, params, data, own = _regression_ensemble(N=4)
    rng = np.random.default_rng(2)
    Xh = rng.normal(size=(32, 3)).astype(np.float32)
    held = ensemble.Batch(x=jnp.asarray(Xh), y=jnp.asarray(Xh @ np.array([1.0, -2.0, 0.5]) + 0.1, jnp.float32))
    rule = ensemble.Stopping(tol=2e-2, window=4, monitor="held-out")
    fit = ensemble.fit(objective, TX, ensemble.Schedule(300), params, data, own=own, stopping=rule,
                       evaluate=HeldOutMSE(objective.graphdef), eval_data=held)
    c = fit.convergence
    assert c.converged.any()
    for i in np.flatnonzero(c.converged):
        k, E = int(c.steps[i]), fit.eval_losses[i]
        assert abs(E[k - 1] - E[k - 1 - 4]) / abs(E[k - 1 - 4]) < rule.tol and c.final_loss[i] == E[k - 1]
        assert np.all(E[k:] == E[k - 1])
    grad = ensemble.Stopping(tol=1e-12, window=5, grad_tol=5e-2)
    g = ensemble.fit(objective, TX, ensemble.Schedule(600), params, data, own=own, stopping=grad)
    assert g.convergence.converged.all() and np.all(g.convergence.steps < 600)
    for i in range(4):  # the gradient of the step it stopped at was below the tolerance
        k = int(g.convergence.steps[i])
        before = ensemble.fit(objective, TX, ensemble.Schedule(600, max_steps=k - 1), params, data, own=own).params
        one = jax.tree.map(lambda a: a[i], before)
        batch = ensemble.Batch(x=data.x, y=own.y[i], weights=own.weights[i])
        value = lambda p: objective(p, nnx.State({}), batch, jnp.ones(64, bool), None, None, 0)[0]  # noqa: E731
        assert float(optax.tree.norm(jax.grad(value)(one))) < grad.grad_tol * 1.01


def test_mlp_students_train_to_convergence():
    """mlp.train_to_convergence: the MLP students on the engine with a rule; a student that
    stopped is the fixed-budget student at its steps."""
    X, Y = _data(n=64, N=6)
    cfg = mlp.TrainConfig(widths=(3, 8, 1), learning_rate=0.01, epochs=300)
    init = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(0), 6), "torch")
    params, conv = mlp.train_to_convergence(cfg, init, X, Y, ensemble.Stopping(tol=1e-2, window=5), chunk=6)
    assert conv.converged.any() and np.all(conv.steps <= 300)
    i = int(np.flatnonzero(conv.converged)[0])
    short = mlp.train_to_convergence(cfg, init, X, Y, ensemble.Stopping(tol=1e-12, window=5), chunk=6)[0]
    assert not _close(params, short, i)
    with pytest.raises(ValueError, match="monitor='train'"):
        mlp.train_to_convergence(cfg, init, X, Y, ensemble.Stopping(monitor="held-out"))
