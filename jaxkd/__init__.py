"""jaxkd: measure and correct how uncertainty propagates through knowledge distillation."""

__version__ = "0.1.0"
