"""Vmapped Flax students: equal to one-at-a-time training, chunk-invariant, validated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkd.data import load_dataset, split
from experiment_modules import face
init_perturbation = face("init_perturbation")
output_entropy = face("output_entropy")
teacher_noise = face("teacher_noise")
variance_attribution = face("variance_attribution")
from jaxkd.students import mlp


@pytest.fixture(scope="module")
def boston():
    sp = split(load_dataset("boston"))
    return jnp.asarray(sp.X_train, jnp.float32), jnp.asarray(sp.y_train, jnp.float32)


CFG = mlp.TrainConfig(widths=(13, 8, 1), epochs=30)


def _leaves_close(a, b, **kw):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def test_ensemble_equals_students_trained_one_at_a_time(boston):
    X, y = boston
    keys = jax.random.split(jax.random.key(0), 4)
    Y = y[None] + 0.3 * jax.random.normal(jax.random.key(1), (4, y.shape[0]))
    params = mlp.init_ensemble(CFG.widths, keys)
    together = mlp.train_ensemble(CFG, params, X, Y)
    for s in range(4):
        one = jax.tree.map(lambda a: a[s : s + 1], params)
        alone = mlp.train_ensemble(CFG, one, X, Y[s : s + 1])
        _leaves_close(jax.tree.map(lambda a: a[s], together), jax.tree.map(lambda a: a[0], alone),
                      rtol=2e-4, atol=2e-5)
    # Training moved the weights and fits the data better than the init.
    before = jnp.mean((mlp.predict(CFG.widths, params, X)[..., 0] - Y) ** 2)
    after = jnp.mean((mlp.predict(CFG.widths, together, X)[..., 0] - Y) ** 2)
    assert float(after) < 0.5 * float(before)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_equals_unchunked(boston, chunk):
    X, y = boston
    cfg = mlp.TrainConfig(widths=(13, 8, 1), epochs=20, batch_size=64)
    params = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(2), 5))
    order = jax.random.split(jax.random.key(3), 5)
    full = mlp.train_ensemble(cfg, params, X, y, order_keys=order)
    _leaves_close(mlp.train_ensemble(cfg, params, X, y, order_keys=order, chunk=chunk), full,
                  rtol=2e-4, atol=2e-5)


def test_bootstrap_weights_equal_training_on_resampled_rows(boston):
    X, y = boston
    cfg = mlp.TrainConfig(widths=(13, 8, 1), epochs=15)
    rows = np.array([0, 0, 5, 7, 7, 7, 9])
    counts = np.zeros((1, X.shape[0]), np.float32)
    np.add.at(counts[0], rows, 1.0)
    params = mlp.init_ensemble(cfg.widths, jax.random.key(4)[None])
    weighted = mlp.train_ensemble(cfg, params, X, y, weights=counts)
    explicit = mlp.train_ensemble(cfg, params, X[rows], y[rows])
    _leaves_close(weighted, explicit, rtol=2e-4, atol=2e-5)


def test_perturb_zero_is_identity_and_scales():
    p = mlp.init_params((3, 4, 1), jax.random.key(0))
    _leaves_close(mlp.perturb(p, jax.random.key(1), 0.0), p, rtol=0, atol=0)
    q = mlp.perturb(p, jax.random.key(1), 0.1)
    ratio = np.concatenate([np.ravel(np.asarray(a) / np.asarray(b)) for a, b in
                            zip(jax.tree.leaves(q), jax.tree.leaves(p)) if np.all(np.asarray(b) != 0)])
    assert 0.05 < ratio.std() < 0.15 and abs(ratio.mean() - 1) < 0.05


def test_init_perturbation_s0_gives_identical_students_when_the_init_is_shared():
    shared = init_perturbation.run(init_perturbation.Config.from_preset(
        "quick", scales=(0.0, 0.1), num_students=8, epochs=20, fresh_init=False))
    # Identical students up to float32 rounding of the vectorised lanes (~1e-15 in variance).
    assert shared.inter_student_variance[0] < 1e-12 and shared.mse_truth_std[0] < 1e-6
    assert shared.inter_student_variance[1] > 1e-6
    # The study's protocol (the default): fresh inits already disagree at s = 0; every student's
    # test MSE is kept, paired across s, on the training labels (the study's script).
    fresh = init_perturbation.run(init_perturbation.Config.from_preset(
        "quick", scales=(0.0, 0.1), num_students=8, epochs=20))
    assert fresh.config.labels == "truth" and fresh.config.init == "he" and fresh.config.split_seed == 42
    assert fresh.inter_student_variance[0] > 1e-4
    assert np.asarray(fresh.mse_truth_per_student).shape == (2, 8)
    np.testing.assert_allclose(np.mean(fresh.mse_truth_per_student, axis=1), fresh.mse_truth, rtol=1e-5)
    np.testing.assert_allclose(fresh.mse_teacher, fresh.mse_truth, rtol=1e-6)  # the labels are the truth


def test_teacher_noise_mlp_grows_with_noise():
    res = teacher_noise.run(teacher_noise.Config.from_preset(
        "quick", model="mlp", alphas=(0.0, 1.0), num_students=16))
    v = res.inter_student_variance
    assert v[1] > 3 * v[0] > 0  # init alone disagrees a little; noise much more
    np.testing.assert_allclose(res.linear.inter_student_variance[1], res.linear.predicted_variance[1],
                               rtol=0.6)


def test_variance_attribution_indices_follow_their_definitions():
    res = variance_attribution.run(variance_attribution.Config.from_preset(
        "quick", num_students=8, frozen_draws=4, epochs=5))
    V = dict(zip(res.case, res.group_variance))
    for s in variance_attribution.SOURCES:
        assert res.total_init > 0 and V[f"only-{s}"] > 0
        assert res.index("total", s)[0] == pytest.approx(V[f"only-{s}"] / V["all"])
        assert res.index("first_order", s)[0] == pytest.approx(1 - V[f"fixed-{s}"] / V["all"])
        assert res.index("total", s)[1] > 0 and res.index("first_order", s)[1] > 0
    with pytest.raises(ValueError, match="multiple of --frozen-draws"):
        variance_attribution.Config.from_preset("quick", num_students=10, frozen_draws=4)


def test_variance_attribution_frozen_sources_share_keys_within_a_group_only():
    cfg = variance_attribution.Config.from_preset("quick", num_students=8, frozen_draws=4)
    frozen = jax.random.key_data(variance_attribution._keys(cfg, "init", False))
    assert np.array_equal(frozen[0], frozen[1]) and not np.array_equal(frozen[1], frozen[2])
    varying = jax.random.key_data(variance_attribution._keys(cfg, "init", True))
    assert len({tuple(np.ravel(k)) for k in np.asarray(varying)}) == 8


def test_torch_init_is_uniform_on_plus_minus_one_over_sqrt_fan_in():
    p = mlp.init_ensemble((13, 64, 3), jax.random.split(jax.random.key(0), 200), init="torch")
    for layer, fan_in in ((0, 13), (1, 64)):
        for part in ("kernel", "bias"):
            x = np.asarray(p["layers"][layer][part][...])
            bound = 1 / np.sqrt(fan_in)
            assert x.min() >= -bound and x.max() <= bound and x.max() > 0.95 * bound
            assert x.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)  # uniform's std
    he = mlp.init_ensemble((13, 64, 3), jax.random.split(jax.random.key(0), 200))
    assert np.all(np.asarray(he["layers"][0]["bias"][...]) == 0)
    assert np.asarray(he["layers"][0]["kernel"][...]).std() == pytest.approx(np.sqrt(2 / 13), rel=0.05)
    with pytest.raises(ValueError, match="unknown initialisation"):
        mlp.init_ensemble((13, 3), jax.random.split(jax.random.key(0), 2), init="xavier")


def test_variance_aware_mlp_trains_the_k1_methods_once():
    """At k = 1 the study's and the honest weighting are averaging (their targets are the
    averaged responses bit for bit), so their students are averaging's; at k = 3 they differ."""
    from jaxkd import targets, teachers
    from experiment_modules import face
    variance_aware = face("variance_aware")

    resp = teachers.sample_responses(jax.random.key(0), jnp.linspace(-1, 1, 7), 0.3, k=1, num_students=5)
    np.testing.assert_array_equal(targets.study_variance_weighted(resp, 0.3, jnp.linspace(-1, 1, 7)),
                                  targets.average(resp))
    res = variance_aware.run(variance_aware.Config.from_preset(
        "quick", model="mlp", num_students=6, epochs=10, alphas=(0.5,), ks=(1, 3)))
    for method in ("study", "honest"):
        for metric in ("variance", "mse_teacher", "mse_truth", "mse_truth_std", "fit"):
            a, b = getattr(res, f"{method}_{metric}"), getattr(res, f"average_{metric}")
            assert a[0] == b[0] and a[1] != b[1], (method, metric)
    assert res.leverage_oracle_mse_truth[0] != res.average_mse_truth[0]


@pytest.mark.parametrize("name", ["digits", "wine", "breast-cancer"])
def test_classifiers_reach_sane_accuracy_and_counts_add_up(name):
    cfg = output_entropy.Config.from_preset("quick", datasets=(name,), replicates=2)
    res = output_entropy.run(cfg)
    for model in ("logistic", "mlp"):
        r = res.runs[f"{name}-{model}"]
        for role in ("teacher", "student_hard", "student_soft"):
            assert getattr(r, f"{role}_accuracy") > 0.9, (model, role)
            assert getattr(r, f"{role}_correct_count") + getattr(r, f"{role}_incorrect_count") == getattr(r, f"{role}_all_count") == r.test_size
            assert np.isfinite(getattr(r, f"{role}_all_mean")) and getattr(r, f"{role}_all_mean") >= 0
            assert getattr(r, f"{role}_correct_count") == pytest.approx(getattr(r, f"{role}_accuracy") * r.test_size)
            assert getattr(r, f"{role}_fit")["students"] == 2 and getattr(r, f"{role}_fit")["held_out_loss"] > 0
        assert r.replicates == 2 and r.teacher_all_margin >= output_entropy.MARGIN_FLOOR


def test_entropy_summary_hand_computed():
    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    s = output_entropy.entropy_summary(probs, np.array([1, 0, 0]))
    assert s["accuracy"] == pytest.approx(1 / 3)
    assert (s["correct_count"], s["incorrect_count"]) == (1, 2)
    assert s["all_mean"] == pytest.approx(np.log(2) / 3)
    assert output_entropy.significant({"all_mean": 1.0, "all_std": 0.1}, {"all_mean": 1.5, "all_std": 0.1}, "all") == 1.0
    assert output_entropy.significant({"all_mean": 1.0, "all_std": 0.3}, {"all_mean": 1.5, "all_std": 0.3}, "all") == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"learning_rate": -0.1}, "learning rate must be non-negative"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"widths": (13,)}, "at least an input and an output"),
    ({"loss": "hinge"}, "unknown loss"),
])
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp.TrainConfig(**kwargs)


def test_bad_ensemble_inputs(boston):
    X, y = boston
    params = mlp.init_ensemble(CFG.widths, jax.random.split(jax.random.key(0), 2))
    with pytest.raises(ValueError, match="NaN"):
        mlp.train_ensemble(CFG, params, X, np.where(np.arange(y.shape[0]) == 3, np.nan, y))
    with pytest.raises(ValueError, match="expects 13"):
        mlp.train_ensemble(CFG, params, X[:, :5], y)
    with pytest.raises(ValueError, match="expected \\(2, 404"):
        mlp.train_ensemble(CFG, params, X, np.ones((3, 404)))
    with pytest.raises(ValueError, match="class labels"):
        mlp.train_ensemble(mlp.TrainConfig(widths=(13, 3), loss="ce"), mlp.init_ensemble((13, 3), jax.random.split(jax.random.key(0), 2)), X, np.full(404, 5))
    with pytest.raises(ValueError, match="at least 2"):
        teacher_noise.Config.from_preset("quick", model="mlp", num_students=0)
    with pytest.raises(ValueError, match="learning rate"):
        teacher_noise.Config.from_preset("quick", model="mlp", learning_rate=-1.0)
    with pytest.raises(ValueError, match="regression set"):
        output_entropy.Config.from_preset("quick", datasets=("boston",))


@pytest.mark.parametrize("weighted", [False, True])
def test_fused_block_equals_vmapped_autodiff_adam(boston, weighted):
    """The hand-written fused path takes the same Adam steps as optax on the vmapped module."""
    X, y = boston
    cfg = mlp.TrainConfig(widths=(13, 8, 1), epochs=40)
    assert mlp.uses_fused_path(cfg, X.shape[0])
    assert not mlp.uses_fused_path(mlp.TrainConfig(widths=(13, 8, 1), batch_size=64), X.shape[0])
    assert not mlp.uses_fused_path(mlp.TrainConfig(widths=(13, 8, 8, 1)), X.shape[0])
    params = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(5), 3))
    Y = y[None] + 0.3 * jax.random.normal(jax.random.key(6), (3, y.shape[0]))
    w = (jax.random.poisson(jax.random.key(7), 1.0, Y.shape).astype(jnp.float32) if weighted
         else jnp.ones_like(Y))
    fused = jax.jit(mlp.train_block_fused, static_argnums=0)(cfg, params, X, Y, w)
    keys = jax.random.split(jax.random.key(0), 3)
    reference = jax.jit(jax.vmap(mlp.train_one, in_axes=(None, 0, None, 0, 0, 0)), static_argnums=0)(
        cfg, params, X, Y, w, keys)
    _leaves_close(fused, reference, rtol=2e-4, atol=2e-5)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(params)))
    assert moved > 0.05
    deep = mlp.init_ensemble((13, 4, 4, 1), jax.random.split(jax.random.key(8), 3))
    with pytest.raises(ValueError, match="needs the parameters of MLP"):
        mlp.train_block_fused(cfg, deep, X, Y, w)


def test_paired_comparison_has_power_where_the_overlap_rule_has_none():
    """Students whose entropy is their teacher's + 0.05 on every example: the spreads (std 0.3)
    overlap, so the study's rule sees nothing; the paired interval over replicates sits at 0.05.
    Retrained teachers that differ by ±0.01 give a margin near 0.02, so 0.05 is outside it."""
    rng = np.random.default_rng(0)
    R, m = 10, 300
    h_t = rng.uniform(0.0, 1.0, m)[None] + rng.choice([-0.01, 0.01], R)[:, None]  # retrained teachers
    correct = rng.uniform(size=(R, m)) < 0.9
    t = {"all_mean": h_t[0].mean(), "all_std": h_t[0].std()}
    s = {"all_mean": h_t[0].mean() + 0.05, "all_std": h_t[0].std()}
    assert output_entropy.significant(t, s, "all") == 0.0
    out = output_entropy.paired_comparison(h_t + 0.05, h_t, correct)
    assert out["all_delta"] == pytest.approx(0.05) and out["all_replicates"] == R
    assert out["all_examples"] == R * m and out["correct_examples"] == correct.sum()
    assert out["all_delta_low"] == pytest.approx(0.05) and out["all_delta_high"] == pytest.approx(0.05)
    assert 0.015 < out["all_margin"] < 0.05
    # The effect absent (the student is its teacher up to noise): the interval holds 0.
    same = output_entropy.paired_comparison(h_t + rng.normal(0, 0.01, (R, m)), h_t, correct)
    assert same["all_delta_low"] < 0 < same["all_delta_high"]
    # A group empty in every replicate: NaN, no replicates.
    empty = output_entropy.paired_comparison(h_t, h_t, np.ones((R, m), bool))
    assert empty["incorrect_replicates"] == 0 and np.isnan(empty["incorrect_delta"])


def test_perturb_moves_biases_additively_when_asked():
    p = mlp.init_params((3, 64, 1), jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 400)
    q = jax.vmap(mlp.perturb, in_axes=(None, 0, None, None))(p, keys, 0.2, 0.1)
    b = np.asarray(q["layers"][0]["bias"][...])             # zero biases + N(0, (0.1 * 0.2)^2)
    assert abs(b.std() - 0.02) < 0.002 and abs(b.mean()) < 0.002
    k0, k = np.asarray(p["layers"][0]["kernel"][...]), np.asarray(q["layers"][0]["kernel"][...])
    assert abs((k / k0).std() - 0.2) < 0.01                  # kernels x (1 + N(0, 0.2^2))
    assert np.all(np.asarray(mlp.perturb(p, keys[0], 0.2)["layers"][0]["bias"][...]) == 0)  # default
    assert float(mlp.parameter_variance(q)) > 0 and float(mlp.parameter_variance(
        jax.tree.map(lambda x: jnp.broadcast_to(x, (5, *x.shape)), p))) < 1e-12  # identical: rounding only


def test_init_perturbation_fresh_inits_spread_at_s0_and_record_parameter_variance():
    shared = init_perturbation.run(init_perturbation.Config.from_preset(
        "quick", scales=(0.0, 0.1), num_students=6, epochs=10, fresh_init=False))
    fresh = init_perturbation.run(init_perturbation.Config.from_preset(
        "quick", scales=(0.0, 0.1), num_students=6, epochs=10))
    assert shared.param_variance_before[0] < 1e-12 and shared.param_variance_before[1] > 1e-4
    assert fresh.param_variance_before[0] > 0.01 and fresh.inter_student_variance[0] > 1e-4
    assert all(x > 0 for x in fresh.param_variance_after)
    cfg = init_perturbation.Config.from_preset("paper")
    assert (cfg.hidden, cfg.epochs, cfg.fresh_init, cfg.bias_scale, cfg.scales[-1]) == ((128,), 300, True, 0.1, 0.4)


def test_minibatch_training_needs_explicit_order_keys(boston):
    X, y = boston
    cfg = mlp.TrainConfig(widths=(13, 4, 1), epochs=2, batch_size=64)
    params = mlp.init_ensemble(cfg.widths, jax.random.split(jax.random.key(0), 2))
    with pytest.raises(ValueError, match="pass order_keys"):
        mlp.train_ensemble(cfg, params, X, y)
    full_batch = mlp.TrainConfig(widths=(13, 4, 1), epochs=2)  # no data order to draw: keys optional
    assert jax.tree.leaves(mlp.train_ensemble(full_batch, params, X, y))[0].shape[0] == 2


def test_auto_chunk_keeps_about_2048_hidden_units_per_chunk_on_cpu():
    assert mlp.auto_chunk(1000) == 125  # width 16: 8 balanced chunks of 125
    assert mlp.auto_chunk(1000, 64) == 32 and mlp.auto_chunk(1000, 128) == 16
    assert mlp.auto_chunk(100, 16) == 100 and mlp.auto_chunk(5, 4096) == 1
