"""How far students trained (issue 33, item 2): :func:`jaxkd.students.mlp.train_recorded` (the
students of :func:`~jaxkd.students.mlp.train_ensemble` with their loss history),
:func:`jaxkd.students.ensemble.convergence_at_end` (the engine's stopping rule judged on a
history), :class:`jaxkd.experiments.fit.FitSummary`, and the fit every MLP experiment records
per point and shows beside its table of students."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxkd import document as doc
from jaxkd import rng, targets, teachers, uncertainty
from jaxkd.experiments import fit, regression
from jaxkd.students import ensemble, mlp
from jaxkd.study import EXPERIMENTS


def _same(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _data(n=48, N=5, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1).astype(np.float32)
    Y = (y[None] + 0.3 * r.normal(size=(N, n))).astype(np.float32)
    return X, Y


def _loss_at(cfg, params, X, Y):
    """Each student's training loss at ``params`` (full batch, unit weights): (N,)."""
    out = mlp.predict(cfg.widths, params, jnp.asarray(X))
    if cfg.loss == "mse":
        return np.asarray(jnp.mean((out[..., 0] - Y) ** 2, axis=1))
    return np.asarray(optax.softmax_cross_entropy_with_integer_labels(out, jnp.asarray(Y)).mean(1))


@pytest.mark.parametrize("widths, loss, batch_size", [
    ((3, 8, 1), "mse", None),      # the fused one-hidden-layer path
    ((3, 8, 6, 1), "mse", None),   # the vmapped path: two hidden layers
    ((3, 8, 3), "ce", None),       # the vmapped path: integer labels
    ((3, 8, 1), "mse", 16),        # the vmapped path: minibatches
])
def test_train_recorded_trains_the_students_of_train_ensemble_and_records_their_losses(widths, loss, batch_size):
    """Parameters bitwise those of train_ensemble; one loss per epoch; full batch, the first
    epoch's loss is the loss at the initial parameters (recorded before the update)."""
    X, Y = _data()
    if loss == "ce":
        Y = (Y > np.median(Y)).astype(np.int32) + (Y > np.quantile(Y, 0.8)).astype(np.int32)
    cfg = mlp.TrainConfig(widths=widths, loss=loss, learning_rate=0.02, epochs=15, batch_size=batch_size)
    assert mlp.uses_fused_path(cfg, X.shape[0]) == (widths == (3, 8, 1) and batch_size is None)
    init = mlp.init_ensemble(widths, jax.random.split(jax.random.key(1), Y.shape[0]), "torch")
    order = jax.random.split(jax.random.key(2), Y.shape[0]) if batch_size else None
    plain = mlp.train_ensemble(cfg, init, X, Y, order_keys=order)
    params, losses = mlp.train_recorded(cfg, init, X, Y, order_keys=order)
    assert _same(params, plain) and losses.shape == (Y.shape[0], cfg.epochs) and isinstance(losses, np.ndarray)
    if batch_size is None:
        np.testing.assert_allclose(losses[:, 0], _loss_at(cfg, init, X, Y), rtol=1e-5)
        # the last epoch's loss: the parameters after E - 1 updates
        before_last = mlp.train_ensemble(dataclasses.replace(cfg, epochs=cfg.epochs - 1), init, X, Y)
        np.testing.assert_allclose(losses[:, -1], _loss_at(cfg, before_last, X, Y), rtol=1e-5)
    assert np.all(losses[:, -1] < losses[:, 0])


# --- convergence_at_end: the engine's rule on a history --------------------------------------------

RULE = ensemble.Stopping(tol=2e-2, window=5)


def test_convergence_at_end_agrees_with_the_engine_where_it_stopped():
    """Students trained with the rule (ensemble.fit) stop at epoch e; on the same students' history
    trained the whole budget without a rule, the rule judged at the end of the first e epochs says
    converged and at the end of the first e - 1 says not."""
    N, n = 8, 64
    X, _ = _data(n=n)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1).astype(np.float32)
    graphdef, states = ensemble.init(lambda rngs: mlp.MLP((3, 8, 1), rngs=rngs), jax.random.split(jax.random.key(0), N))
    objective = ensemble.PerExample(graphdef, mlp.LOSSES["mse"])
    params = nnx.filter_state(states, nnx.Param)
    data = ensemble.Batch(x=jnp.asarray(X))
    own = ensemble.Batch(y=jnp.broadcast_to(jnp.asarray(y), (N, n)), weights=jnp.ones((N, n)))
    tx = optax.adam(1e-2)
    stopped = ensemble.fit(objective, tx, ensemble.Schedule(300), params, data, own=own, stopping=RULE).convergence
    history = ensemble.fit(objective, tx, ensemble.Schedule(300), params, data, own=own).losses  # (N, 300)
    assert 0 < stopped.converged.sum()
    for i in np.flatnonzero(stopped.converged):
        e = int(stopped.steps[i])  # full batch: one step per epoch
        at = ensemble.convergence_at_end(RULE, history[i:i + 1, :e])
        assert at.converged[0] and not ensemble.convergence_at_end(RULE, history[i:i + 1, :e - 1]).converged[0]
        assert at.steps[0] == e and at.final_loss[0] == pytest.approx(float(history[i, e - 1]))
        assert at.change[0] == pytest.approx(float(stopped.change[i]), rel=1e-3)
    short = ensemble.convergence_at_end(RULE, history[:, :RULE.window])
    assert not short.converged.any() and np.isinf(short.change).all()
    assert np.all(ensemble.convergence_at_end(RULE, history[:, :10], steps_per_epoch=3).steps == 30)


# --- FitSummary --------------------------------------------------------------------------------------


def _summary(converged: float, asked: bool) -> fit.FitSummary:
    return fit.FitSummary(10, 100, 80.0, 0.1, 0.2, converged, asked, fit.rule_text())


def test_a_row_is_flagged_where_convergence_was_asked_and_not_reached():
    assert _summary(0.9, True).flagged and not _summary(0.9, False).flagged
    assert not _summary(0.95, True).flagged and not _summary(1.0, True).flagged
    blocks = fit.table([("asked", _summary(0.9, True)), ("fixed", _summary(0.9, False).to_json()), ("none", None)])
    text = doc.to_markdown(doc.Section("t", blocks))
    assert "not reached by 95% of the students in: asked." in text and "below 95%: flagged" in text
    assert "| fixed | 10 | 100 |" in text and "| asked | 10 | 100 (cap) |" in text and "none" not in text
    assert fit.table([("none", None)]) == []
    assert fit.of_json(_summary(0.5, True).to_json()) == _summary(0.5, True)
    recorded = fit.FitSummary.recorded(np.array([[2.0] * 20, [2.0] * 10 + [1.0] * 10]), 20, held_out=[1.0, 3.0])
    assert (recorded.converged, recorded.held_out_loss, recorded.train_loss, recorded.steps) == (0.5, 2.0, 1.5, 20.0)
    assert not recorded.asked and not recorded.flagged


# --- every MLP experiment records its students' fit -------------------------------------------------

TINY = {
    "teacher-noise": dict(model="mlp", num_students=4, epochs=12, alphas=(0.0, 1.0)),
    "init-perturbation": dict(num_students=4, epochs=12, scales=(0.0, 0.1)),
    "bootstrap": dict(model="mlp", num_students=4, epochs=12, sizes=(50, 404)),
    "variance-aware": dict(model="mlp", num_students=4, epochs=12, alphas=(0.5,), ks=(1, 3)),
    "variance-attribution": dict(num_students=4, frozen_draws=2, epochs=3),
    "output-entropy": dict(datasets=("wine",), epochs=12, student_epochs=8, replicates=2),
}


def _fits(name, res) -> list[tuple[list, int, int]]:
    """(the per-point fits, students, epochs) of each ensemble kind the experiment records."""
    cfg = res.config
    if name == "output-entropy":
        return [([getattr(r, f"{role}_fit") for r in res.runs.values()], cfg.replicates, epochs)
                for role, epochs in (("teacher", cfg.epochs), ("student_hard", cfg.students_epochs),
                                     ("student_soft", cfg.students_epochs))]
    fields = {"bootstrap": ("teacher_fit", "truth_fit"),
              "variance-aware": ("average_fit", "study_fit", "leverage_oracle_fit", "honest_fit")}.get(name, ("fit",))
    return [(getattr(res, f), cfg.num_students, cfg.students_epochs) for f in fields]


@pytest.mark.parametrize("name", list(TINY))
def test_every_mlp_experiment_records_its_students_fit_and_its_report_shows_it(name):
    experiment = EXPERIMENTS[name]
    res = experiment.run(experiment.Config.from_preset("quick", **TINY[name]))
    points = len(res.runs) if name == "output-entropy" else len(getattr(res, {"bootstrap": "b", "variance-aware": "k", "variance-attribution": "case"}.get(name, "mse_truth")))
    for fits, students, epochs in _fits(name, res):
        assert len(fits) == points
        for f in map(fit.of_json, fits):
            assert (f.students, f.epochs, f.asked) == (students, epochs, False)
            assert f.held_out_loss > 0 and f.train_loss > 0 and 0 <= f.converged <= 1
    if name == "variance-attribution":  # minibatches: steps are epochs x batches per epoch
        n = 404
        assert fit.of_json(res.fit[0]).steps == res.config.students_epochs * (n // res.config.batch_size)
    if name == "variance-aware":  # at k = 1 the study's students are averaging's
        assert res.study_fit[0] == res.average_fit[0] and res.study_fit[1] != res.average_fit[1]
    if name == "teacher-noise":  # the OLS control has no training budget
        assert res.linear.fit is None
    stored = json.dumps(res.to_json())
    assert json.dumps(experiment.Results.from_json(res.config, json.loads(stored)).to_json()) == stored
    text = doc.to_markdown(experiment.document(res))
    assert "How far the" in text and "| held-out loss |" in text


def test_teacher_noise_fit_is_the_students_own_losses():
    """The recorded training loss is the mean over students of the last epoch's squared error
    (the loss before its update: the students after E - 1 epochs), and the held-out loss their
    mean test MSE against the truth, recomputed here from students trained the same way."""
    cfg = EXPERIMENTS["teacher-noise"].Config.from_preset("quick", **TINY["teacher-noise"])
    res = EXPERIMENTS["teacher-noise"].run(cfg)
    task = regression.mlp_task(cfg)
    init = mlp.init_ensemble(task.train.widths, rng.student_keys(rng.stream(cfg.seed, "init"), cfg.num_students),
                             cfg.init)
    noise = rng.stream(cfg.seed, "teacher_noise")
    for i, alpha in enumerate(cfg.alphas):
        Y = targets.single(teachers.sample_responses(rng.point_key(noise, rng.grid_id(alpha)), task.mu, alpha * task.var_y,
                                                     num_students=cfg.num_students))
        f = fit.of_json(res.fit[i])
        before_last = mlp.train_ensemble(dataclasses.replace(task.train, epochs=cfg.students_epochs - 1), init,
                                         task.X, Y)
        train_mse = uncertainty.mse(mlp.predict(task.train.widths, before_last, task.X)[..., 0], Y)
        assert f.train_loss == pytest.approx(float(np.mean(train_mse)), rel=1e-5)
        trained = mlp.train_ensemble(task.train, init, task.X, Y)
        test_mse = uncertainty.mse(mlp.predict(task.train.widths, trained, task.X_test)[..., 0], task.y_test)
        assert f.held_out_loss == pytest.approx(float(np.mean(test_mse)), rel=1e-6)
        assert f.held_out_loss == pytest.approx(res.mse_truth[i], rel=1e-6)
