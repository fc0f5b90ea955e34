"""Closed forms for every result in docs/theorems.md and their verification through jaxkd."""

from theory import closed_forms

__all__ = ["closed_forms"]
