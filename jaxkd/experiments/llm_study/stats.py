"""Statistics of replicates: the mean and its t-interval, and how reports write them."""

from __future__ import annotations

import numpy as np
from scipy import stats

from jaxkd.formatting import fmt


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of independent replicates and its ``level`` t-interval: (mean, low, high)."""
    x = np.asarray(values, float)
    if x.size < 2:
        raise ValueError("an interval needs at least two replicates.")
    m = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def difference_interval(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Difference of the means of two independent sets of replicates (classes that share no
    randomness, so nothing pairs them) and its ``level`` Welch t-interval (unequal variances,
    scipy's ``ttest_ind``): (mean a − mean b, low, high)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        raise ValueError("a difference interval needs at least two replicates on each side.")
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return float(a.mean() - b.mean()), float(ci.low), float(ci.high)


def span(m, lo, hi, digits: int = 4) -> str:
    """``m [lo, hi]``: an estimate and its interval, as reports and evidence write them."""
    return f"{fmt(m, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def cell(values, digits: int = 3) -> str:
    """``mean [low, high]`` of replicates, for tables."""
    return span(*mean_interval(values), digits=digits)


def prompt_bootstrap(per_prompt, statistic=np.mean, *, draws: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """The estimate and a percentile interval over the choice of prompts: per_prompt (R, P)
    values of R replicates on P prompts; each draw resamples the P prompts with replacement (the
    same prompts for every replicate) and applies ``statistic`` to the replicate means. It covers
    which prompts were asked, which the replicate interval (:func:`mean_interval`) does not; the
    replicate interval covers teacher draws, base students, data orders and sampling, which this
    one holds fixed."""
    x = np.asarray(per_prompt, float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"a prompt bootstrap needs (replicates, prompts) values with >= 2 prompts, got {x.shape}.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[1], size=(draws, x.shape[1]))
    stats_ = np.array([statistic(np.nanmean(x[:, i], axis=1)) for i in idx])
    lo, hi = np.nanpercentile(stats_, [50 * (1 - level), 50 * (1 + level)])
    return float(statistic(np.nanmean(x, axis=1))), float(lo), float(hi)
