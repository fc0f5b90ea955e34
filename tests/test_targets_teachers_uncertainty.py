"""Teachers, targets and uncertainty metrics against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkd import targets, teachers, uncertainty


def test_gaussian_responses_shape_and_reproducibility():
    key = jax.random.key(0)
    mu = jnp.arange(5.0)
    a = teachers.sample_responses(key, mu, 0.5, k=3, num_students=4)
    b = teachers.sample_responses(key, mu, 0.5, k=3, num_students=4)
    assert a.shape == (4, 3, 5) and np.array_equal(a, b)
    # Each student is the unbatched function applied to its own split key (vmap, not a loop).
    keys = jax.random.split(key, 4)
    np.testing.assert_allclose(a[2], teachers.gaussian_responses(keys[2], mu, 0.5, 3), rtol=1e-6)
    np.testing.assert_array_equal(teachers.sample_responses(key, mu, 0.0, k=2, num_students=2),
                                  jnp.broadcast_to(mu, (2, 2, 5)))


def test_gaussian_deviates_are_float32_resolution_in_the_means_dtype(x64):
    """Documented in ``gaussian_responses``: float32 standard normal deviates
    (:func:`jaxkd.rng.normal`), cast to the mean's dtype, so float64 teachers get float64
    responses at float32 resolution."""
    from jaxkd import rng

    key, mu = jax.random.key(3), jnp.arange(6.0, dtype=jnp.float64)
    out = teachers.gaussian_responses(key, mu, 4.0, 2)
    assert out.dtype == jnp.float64
    z = rng.normal(key, (2, 6))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(mu[None, :] + 2.0 * z.astype(jnp.float64)))


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma2": -1.0}, "non-negative"),
    ({"k": 0}, "at least 1"),
    ({"num_students": 0}, "at least 1"),
    ({"mean": np.array([1.0, np.nan])}, "NaN"),
    ({"mean": np.ones((2, 2))}, "1 dimensions"),
    ({"sigma2": float("nan")}, "finite"),
])
def test_sample_responses_refuses_bad_input(kwargs, match):
    args = {"mean": np.zeros(3), "sigma2": 1.0, "k": 1, "num_students": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        teachers.sample_responses(jax.random.key(0), args.pop("mean"), args.pop("sigma2"), **args)


def test_sample_answers_frequencies_and_validation():
    ans = teachers.sample_answers(jax.random.key(1), np.array([0.7, 0.2, 0.1]), k=50, num_students=400)
    freq = np.bincount(np.asarray(ans).ravel(), minlength=3) / ans.size
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.1], atol=0.01)
    with pytest.raises(ValueError, match="sum to 1"):
        teachers.sample_answers(jax.random.key(0), np.array([0.5, 0.6]), k=2, num_students=2)


R = jnp.array([[[1.0, 4.0], [3.0, 0.0], [8.0, 2.0]]])  # (N=1, k=3, n=2)


def test_location_targets_hand_computed():
    np.testing.assert_allclose(targets.single(R), [[1.0, 4.0]])
    np.testing.assert_allclose(targets.average(R), [[4.0, 2.0]])
    np.testing.assert_allclose(targets.median(R), [[3.0, 2.0]])
    np.testing.assert_allclose(targets.midrange(R), [[4.5, 2.0]])
    np.testing.assert_allclose(targets.trimmed_mean(R, 0.34), [[3.0, 2.0]])
    # pooled unbiased within-input variance: var([1,3,8]) = 13, var([4,0,2]) = 4 -> 8.5
    np.testing.assert_allclose(targets.pooled_response_variance(R), [8.5])


def test_inverse_variance_combination_hand_computed():
    a_t, a_s = targets.inverse_variance_weights(1.0, 3.0)
    assert (float(a_t), float(a_s)) == (0.75, 0.25)
    assert float(targets.combine(2.0, 1.0, 6.0, 3.0)) == 3.0
    assert float(targets.combined_variance(1.0, 3.0)) == 0.75


def test_leverage_oracle_weighted_hand_computed():
    # var(ybar) = 1 and student var 1: equal weights with the clean mean.
    z = targets.leverage_oracle_weighted(targets.average(R), 1.0, jnp.array([0.0, 0.0]), jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(z, [[2.0, 1.0]])


def test_study_variance_weighted_hand_computed():
    # Input 0: responses 1, 3 -> mean 2, sample variance (ddof 0) 1; with sigma^2 = 3 the weight
    # on the mean is 3 / (1 + 3) = 0.75, so 0.75 * 2 + 0.25 * mu_0 (= 10) = 4.
    # Input 1: responses 5, 5 -> variance 0, weight 1 on the mean: 5.
    R2 = jnp.array([[[1.0, 5.0], [3.0, 5.0]]])  # (N=1, k=2, n=2)
    z = targets.study_variance_weighted(R2, 3.0, jnp.array([10.0, -7.0]))
    np.testing.assert_allclose(z, [[4.0, 5.0]])
    # k = 1: zero sample variance everywhere, so the target is the single response itself.
    one = jnp.array([[[0.3, -1.2, 2.0]]])
    np.testing.assert_array_equal(targets.study_variance_weighted(one, 0.5, jnp.zeros(3)), one[:, 0])


def test_honest_variance_weighted_hand_computed():
    # Estimated var(ybar) v = 8.5/3; student variances v * lev: weight lev/(1+lev) on ybar.
    lev = jnp.array([1.0, 3.0])
    s = jnp.array([[0.0, 6.0]])
    v = targets.pooled_response_variance(R) / 3
    z = targets.honest_variance_weighted(targets.average(R), v, s, lev)
    np.testing.assert_allclose(z, [[0.5 * 4.0 + 0.5 * 0.0, 0.75 * 2.0 + 0.25 * 6.0]], rtol=1e-6)
    # k = 1: residual variance mean((1-0)^2/2, (4-6)^2/4) = 0.75.
    y1 = targets.single(R)
    np.testing.assert_allclose(targets.crossfit_residual_variance(y1, s, lev), [0.75])


def test_inter_student_variance_and_contributions():
    preds = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    expected = np.mean(np.var(preds, axis=0, ddof=1))
    assert float(uncertainty.inter_student_variance(preds)) == pytest.approx(expected)
    assert float(jnp.mean(uncertainty.inter_student_contributions(preds))) == pytest.approx(expected)
    np.testing.assert_allclose(uncertainty.mse(preds, np.array([0.0, 1.0])), [0.0, 2.0, 12.5])


def test_variance_decomposition_is_exact():
    samples = np.random.default_rng(0).normal(size=(5, 7, 3)) + np.arange(5.0)[:, None, None]
    parts = uncertainty.variance_decomposition(samples)
    assert float(parts["total"]) == pytest.approx(float(parts["across"] + parts["within"]), rel=1e-5)
    assert float(parts["across"]) > float(parts["within"])


def test_entropy_and_empirical_distribution():
    assert float(uncertainty.entropy(jnp.array([0.5, 0.5]))) == pytest.approx(np.log(2))
    assert float(uncertainty.entropy(jnp.array([1.0, 0.0]))) == 0.0
    np.testing.assert_allclose(uncertainty.empirical_distribution(jnp.array([0, 2, 2, 1]), 3),
                               [0.25, 0.25, 0.5])


def test_between_student_variance_removes_the_sampling_floor():
    """S.1: students from one distribution (B = 0) with independent samples: the corrected
    value is ~0 while the uncorrected one stays at the floor w/n; with B > 0 it recovers B."""
    rng = np.random.default_rng(0)
    N, n, D, w = 400, 8, 30, 2.0
    same = rng.normal(0.0, np.sqrt(w), size=(N, n, D))
    est = {k: float(x) for k, x in uncertainty.between_student_variance(same).items()}
    assert est["floor"] == pytest.approx(w / n, rel=0.03)
    assert est["uncorrected"] == pytest.approx(w / n, rel=0.08)
    assert abs(est["corrected"]) < 0.02
    shifted = same + rng.normal(0.0, 0.5, size=(N, 1, D))  # B = 0.25
    est = uncertainty.between_student_variance(shifted)
    assert float(est["corrected"]) == pytest.approx(0.25, abs=0.03)
    assert float(est["uncorrected"]) == pytest.approx(0.25 + w / n, abs=0.03)
    # Hand-computed: two students, two samples each, one dimension.
    hand = uncertainty.between_student_variance(np.array([[0.0, 2.0], [4.0, 4.0]]))
    # means 1 and 4: Var = 4.5; within variances 2 and 0: floor = mean(2, 0) / 2 = 0.5.
    assert [float(hand[k]) for k in ("uncorrected", "floor", "corrected")] == [4.5, 0.5, 4.0]
    with pytest.raises(ValueError, match="samples >= 2"):
        uncertainty.between_student_variance(np.zeros((3, 1, 4)))
