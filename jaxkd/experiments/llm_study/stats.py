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


def span(m, lo, hi, digits: int = 4) -> str:
    """``m [lo, hi]``: an estimate and its interval, as reports and evidence write them."""
    return f"{fmt(m, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def cell(values, digits: int = 3) -> str:
    """``mean [low, high]`` of replicates, for tables."""
    return span(*mean_interval(values), digits=digits)
