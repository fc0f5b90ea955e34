"""Linear engine against numpy / scikit-learn references."""

import jax
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from jaxkd import bootstrap
from jaxkd.students import linear


@pytest.fixture
def data(x64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    Y = rng.normal(size=(7, 60))
    return X, Y


def test_fit_matches_sklearn_per_student(data):
    X, Y = data
    theta = np.asarray(linear.fit(linear.add_intercept(X), Y))
    for s in range(Y.shape[0]):
        ref = LinearRegression().fit(X, Y[s])
        np.testing.assert_allclose(theta[s, :-1], ref.coef_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(theta[s, -1], ref.intercept_, rtol=1e-10, atol=1e-12)


def test_batched_solve_equals_one_at_a_time(data):
    X, Y = data
    batched = np.asarray(linear.fit(X, Y))
    single = np.stack([np.asarray(linear.fit(X, y)) for y in Y])
    np.testing.assert_allclose(batched, single, rtol=1e-12)
    # Any leading axes (noise levels x students) are solved together.
    np.testing.assert_allclose(np.asarray(linear.fit(X, Y.reshape(7, 1, 60)))[:, 0], batched, rtol=1e-12)


def test_hat_diagonal(data):
    X, _ = data
    H = X @ np.linalg.solve(X.T @ X, X.T)
    np.testing.assert_allclose(linear.hat_diagonal(X), np.diag(H), rtol=1e-10)


def test_cross_fit_matches_explicit_folds(data):
    X, Y = data
    folds = np.arange(60) % 3
    pred, lev = linear.cross_fit(X, Y, folds, 3)
    for f in range(3):
        keep, held = folds != f, folds == f
        G = X[keep].T @ X[keep]
        theta = np.linalg.solve(G, X[keep].T @ Y[:, keep].T)
        np.testing.assert_allclose(np.asarray(pred)[:, held], (X[held] @ theta).T, rtol=1e-10)
        np.testing.assert_allclose(np.asarray(lev)[held],
                                   np.einsum("nd,nd->n", X[held], np.linalg.solve(G, X[held].T).T), rtol=1e-10)


def test_fit_resampled_matches_lstsq(data):
    X, Y = data
    y = Y[0]
    idx = bootstrap.resample_indices(jax.random.key(0), 60, 30, num_students=5)
    theta = np.asarray(linear.fit_resampled(X, y, idx))
    for s, rows in enumerate(np.asarray(idx)):
        ref = np.linalg.lstsq(X[rows], y[rows], rcond=None)[0]
        np.testing.assert_allclose(theta[s], ref, rtol=1e-8, atol=1e-10)
    assert np.all(np.asarray(linear.resample_rank(X, idx)) == 4)


def test_rank_deficient_resample_gets_minimum_norm(x64):
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    theta = np.asarray(linear.fit_resampled(X, np.array([2.0, 2.0, 5.0]), np.array([[0, 1]])))
    np.testing.assert_allclose(theta, [[2.0, 0.0]], atol=1e-12)


def test_resample_indices_reproducible_and_in_range():
    a = bootstrap.resample_indices(jax.random.key(3), 50, 20, num_students=4)
    b = bootstrap.resample_indices(jax.random.key(3), 50, 20, num_students=4)
    assert a.shape == (4, 20) and np.array_equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < 50


@pytest.mark.parametrize("bad, match", [
    (np.full((5, 2), np.nan), "NaN"),
    (np.ones((5, 2)), "rank 1"),
    (np.ones(5), "2 dimensions"),
    (np.ones((1, 3)), "at least as many rows"),
])
def test_bad_designs_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        linear.fit(bad, np.ones(bad.shape[0] if bad.ndim else 1))


def test_label_length_mismatch(data):
    X, _ = data
    with pytest.raises(ValueError, match="last axis"):
        linear.fit(X, np.ones((3, 59)))


def test_coefficient_map_equals_fitting_each_student(x64):
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    X, X_test = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
    Y = rng.normal(size=(9, 50))
    factor = linear.gram_factor(jnp.asarray(X))
    C = linear.coefficient_map(factor, X)
    np.testing.assert_allclose(np.asarray((Y @ C) @ X_test.T), np.asarray(linear.predict(linear.fit(X, Y), X_test)),
                               rtol=1e-12, atol=1e-12)


def test_fit_weighted_with_counts_is_the_resampled_fit(data):
    """A student weighted by how often it drew each row is the student fitted on the rows it
    drew (duplicates counted): the two bootstrap engines agree to rounding."""
    X, _ = data
    y = np.random.default_rng(3).normal(size=60)
    idx = bootstrap.resample_indices(jax.random.key(2), 60, 90, num_students=20)
    counts = np.zeros((20, 60))
    for s, rows in enumerate(np.asarray(idx)):
        np.add.at(counts[s], rows, 1.0)
    np.testing.assert_allclose(linear.fit_weighted(X, y, counts), linear.fit_resampled(X, y, idx),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        linear.fit_weighted(X, y, -counts)


def test_resample_counts_are_multinomial():
    n, b, N = 8, 40, 20_000
    c = np.asarray(bootstrap.resample_counts(jax.random.key(0), n, b, num_students=N))
    assert c.shape == (N, n) and np.all(c.sum(axis=1) == b) and np.all(c >= 0)
    # Multinomial(b, 1/n): each cell has mean b/n and variance b (1/n)(1 - 1/n), two cells
    # covariance -b/n^2; 5 SE bounds on the sample moments (one draw; seeds fixed).
    mean, var = b / n, b / n * (1 - 1 / n)
    assert np.all(np.abs(c.mean(axis=0) - mean) < 5 * np.sqrt(var / N))
    assert np.all(np.abs(c.var(axis=0) / var - 1) < 5 * np.sqrt(2 / N) * 1.5)
    assert np.corrcoef(c[:, 0], c[:, 1])[0, 1] == pytest.approx(-1 / (n - 1), abs=5 / np.sqrt(N))
    np.testing.assert_array_equal(c, bootstrap.resample_counts(jax.random.key(0), n, b, num_students=N))
