"""The claims variance-attribution judges: what the study says it shows, decided from its results."""

from __future__ import annotations

from jaxkd.claims import Claim

# No claim of the study reads this experiment (it goes beyond the study).
CLAIMS: tuple[Claim, ...] = ()
