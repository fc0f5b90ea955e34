"""The claims llm-noise-transfer judges: what the study says it shows, decided from its results."""

from __future__ import annotations

CLAIMS: tuple = ()  # noise transfer is reported, not judged: the study states no claim about its size
