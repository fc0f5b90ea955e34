"""Figures without global state: every experiment draws on a ``matplotlib.figure.Figure`` made
here, never through pyplot, so importing or calling jaxkd changes no backend or figure
registry (notebooks display the returned Figure; run folders save it)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def subplots(*grid, figsize=None, **kwargs):
    """``(figure, axes)`` like ``plt.subplots``, on a fresh Figure."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kwargs)


def nan_array(values) -> np.ndarray:
    """Floats with None as NaN (JSON has no NaN, so missing values come back as None)."""
    return np.array([np.nan if x is None else x for x in values], dtype=float)
