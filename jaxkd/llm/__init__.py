"""Language models: a Flax NNX GPT-2, Hugging Face checkpoint import/export, tokenizers,
jitted KV-cache sampling and causal-LM / distillation training."""

from jaxkd.llm.config import GPT2Config
from jaxkd.llm.model import GPT2, Cache

__all__ = ["GPT2", "GPT2Config", "Cache"]
