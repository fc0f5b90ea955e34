"""Language models: Flax NNX decoders (GPT-2 and the Llama family: Llama, Qwen2, Qwen3, Mistral),
Hugging Face checkpoint import/export (exact or refuses),
tokenizers, jitted KV-cache sampling, the per-batch losses and optimizers of distillation, and
:mod:`jaxkd.llm.distill`, the study-independent distillation API (on jaxkd's one training
engine, :mod:`jaxkd.students.ensemble`).

Importing the package has no side effects beyond refusing (:class:`jaxkd._extras.MissingExtra`)
without the ``llm`` extra; callers that want Hugging Face's progress bars and advisories silenced
call :func:`jaxkd.progress.quiet_third_party` themselves (the ``jaxkd`` command does).
"""

# The names re-exported here need JAX and Flax only (core dependencies), so they import before
# the extra is checked; every module of the package that needs the extra imports this first.
from jaxkd import _extras
from jaxkd.llm.attention import Cache
from jaxkd.llm.config import ModelConfig
from jaxkd.llm.llama import Llama
from jaxkd.llm.llama_config import LlamaConfig
from jaxkd.llm.model import GPT2

_extras.require("llm", "jaxkd.llm")

__all__ = ["GPT2", "Llama", "ModelConfig", "LlamaConfig", "Cache"]
