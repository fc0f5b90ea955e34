"""jaxkd.rng.normal: the teacher-noise deviates. Distribution (moments, tails, goodness of
fit at 4 million deviates), the hash itself, determinism, and independence from how students
are batched."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxkd import rng

SAMPLE = 4_000_000


@pytest.fixture(scope="module")
def sample():
    """4 million deviates from one key, as float64 for the statistics."""
    return np.asarray(jax.jit(lambda k: rng.normal(k, (SAMPLE,)))(jax.random.key(11)), np.float64)


def test_threefry_is_jax_randoms_hash():
    """The unrolled hash is Threefry-2x32-20 word for word (jax.random's own primitive)."""
    from jax.extend.random import threefry_2x32

    words = jax.random.key_data(jax.random.key(7))
    x0 = jnp.arange(9, dtype=jnp.uint32)
    x1 = jnp.full(9, 0xDEADBEEF, jnp.uint32)
    mine = rng.threefry2x32(words[0], words[1], x0, x1)
    theirs = threefry_2x32(words, jnp.concatenate([x0, x1]))
    np.testing.assert_array_equal(np.concatenate(mine), np.asarray(theirs))


def test_normal_is_box_mullers_cosine_branch_of_the_hash_words():
    """Each deviate against the formula evaluated in float64 from its two hash words: u =
    float32(w0 >> 1) + 1/2 scaled by 2^-31 (the float32 grid is part of the definition),
    ``psi = (w1 >> 8) 2^-24 pi/4``, sign from bit 0, cosine or sine from bit 1. Catches what
    the statistics cannot resolve: a cosine polynomial cut at x^6, off by 1e-5 at pi/4, is below
    a goodness-of-fit test's reach at this sample size."""
    key, size = jax.random.key(2), 100_000
    z = np.asarray(rng.normal(key, (size,)), np.float64)
    words = jax.random.key_data(key)
    index = jnp.arange(size, dtype=jnp.uint32)
    w0, w1 = (np.asarray(w, np.uint64) for w in rng.threefry2x32(
        words[0], words[1], index, jnp.full(size, rng._NORMAL_TAG, jnp.uint32)))
    u = (np.float32(w0 >> 1).astype(np.float64) + 0.5) * 2.0**-31
    u = u.astype(np.float32).astype(np.float64)
    psi = (w1 >> 8).astype(np.float64) * 2.0**-24 * np.pi / 4
    trig = np.where(w1 & 2, np.sin(psi), np.cos(psi))
    want = np.where(w1 & 1, -1.0, 1.0) * np.sqrt(-2 * np.log(u)) * trig
    np.testing.assert_allclose(z, want, rtol=1e-6, atol=1e-9)


def test_normal_moments_and_tails(sample):
    """Mean, variance, skewness and excess kurtosis within 5 standard errors of N(0, 1)'s, and
    the two-sided tail beyond 3 and 4 sigma within 5 binomial standard errors. A radius of
    sqrt(-log u) instead of sqrt(-2 log u) moves the variance by 700 standard errors; a cosine
    polynomial cut at x^6 moves the mean of z^2 by ~30."""
    n = sample.size
    se = {"mean": 1 / np.sqrt(n), "var": np.sqrt(2 / n), "skew": np.sqrt(6 / n), "kurt": np.sqrt(24 / n)}
    got = {"mean": sample.mean(), "var": sample.var(), "skew": stats.skew(sample),
           "kurt": stats.kurtosis(sample)}
    want = {"mean": 0.0, "var": 1.0, "skew": 0.0, "kurt": 0.0}
    for key in got:
        assert abs(got[key] - want[key]) < 5 * se[key], (key, got[key])
    for t in (3.0, 4.0):
        p = 2 * stats.norm.sf(t)
        count = np.count_nonzero(np.abs(sample) > t)
        assert abs(count - n * p) < 5 * np.sqrt(n * p * (1 - p)), (t, count, n * p)
    # The radius is sqrt(-2 log u) with u >= 2^-32: no deviate beyond 6.67 sigma.
    assert np.abs(sample).max() < np.sqrt(-2 * np.log(2.0**-32))


def test_normal_goodness_of_fit(sample):
    """Kolmogorov-Smirnov and Anderson-Darling against N(0, 1) at 4 million deviates (the fixed
    key makes the test deterministic; it fails at p < 0.001). At this size KS detects a CDF
    off by ~1e-3 anywhere; Anderson-Darling weights the tails."""
    assert stats.kstest(sample, "norm").pvalue > 1e-3
    ad = stats.anderson(sample[:200_000], "norm", method="interpolate")
    assert ad.pvalue > 1e-3
    # The same tests can fail: a 1% scale error is rejected outright.
    assert stats.kstest(1.01 * sample, "norm").pvalue < 1e-6


def test_normal_is_deterministic_and_per_key():
    key = jax.random.key(3)
    a, b = rng.normal(key, (5, 7)), rng.normal(key, (5, 7))
    assert a.dtype == jnp.float32 and a.shape == (5, 7)
    np.testing.assert_array_equal(a, b)
    c = rng.normal(jax.random.key(4), (5, 7))
    assert not np.any(np.asarray(a) == np.asarray(c))
    # Deviate i depends on the key and i only: a longer draw extends a shorter one.
    np.testing.assert_array_equal(rng.normal(key, (35,))[:10], rng.normal(key, (10,)))


def test_normal_per_student_independent_of_batching():
    """A student's deviates are the same drawn alone, in a vmapped batch of any size, or in
    chunks, compiled (op-by-op evaluation rounds the polynomials without fused multiply-adds,
    so it may differ in the last bit)."""
    keys = jax.random.split(jax.random.key(5), 12)
    draw = jax.jit(jax.vmap(lambda k: rng.normal(k, (3, 50))))
    whole = np.asarray(draw(keys))
    np.testing.assert_array_equal(whole[4:9], draw(keys[4:9]))
    np.testing.assert_array_equal(whole[7], jax.jit(lambda k: rng.normal(k, (3, 50)))(keys[7]))
    chunks = jax.lax.map(lambda ks: jax.vmap(lambda k: rng.normal(k, (3, 50)))(ks), keys.reshape(4, 3))
    np.testing.assert_array_equal(whole, np.asarray(chunks).reshape(whole.shape))
    # Students differ from one another.
    assert np.unique(whole[:, 0, 0]).size == 12


def test_normal_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="threefry2x32"):
        rng.normal(jax.random.key(0, impl="rbg"), (4,))
    with pytest.raises(ValueError, match="at most 2"):
        rng.normal(jax.random.key(0), (2**16, 2**16))
