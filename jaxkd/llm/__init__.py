"""Language models: a Flax NNX GPT-2, Hugging Face checkpoint import/export (exact or refuses),
tokenizers, jitted KV-cache sampling, causal-LM / distillation training, and
:mod:`jaxkd.llm.distill`, the study-independent distillation API."""

from jaxkd.llm.config import ModelConfig
from jaxkd.llm.model import GPT2, Cache

__all__ = ["GPT2", "ModelConfig", "Cache"]
