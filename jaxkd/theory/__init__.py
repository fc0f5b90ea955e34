"""Closed forms for every result in docs/theorems.md and their verification through jaxkd."""

from jaxkd.theory import closed_forms

__all__ = ["closed_forms"]
