"""Number formatting shared by the report, the study's claims and the CLI."""

from __future__ import annotations

import math

import numpy as np


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    return f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.{max(digits - 1, 1)}e}"
