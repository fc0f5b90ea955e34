"""Language models: a Flax NNX GPT-2, Hugging Face checkpoint import/export (exact or refuses),
tokenizers, jitted KV-cache sampling, causal-LM / distillation training, and
:mod:`jaxkd.llm.distill`, the study-independent distillation API."""

from jaxkd import _extras

_extras.require("llm", "jaxkd.llm")

from jaxkd.llm.config import GPT2Config  # noqa: E402
from jaxkd.llm.model import GPT2, Cache  # noqa: E402

__all__ = ["GPT2", "GPT2Config", "Cache"]
