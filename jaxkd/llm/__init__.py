"""Language models: a Flax NNX GPT-2, Hugging Face checkpoint import/export (exact or refuses),
tokenizers, jitted KV-cache sampling, the per-batch losses and optimizers of distillation, and
:mod:`jaxkd.llm.distill`, the study-independent distillation API (on jaxkd's one training
engine, :mod:`jaxkd.students.ensemble`)."""

from jaxkd import _extras, progress

_extras.require("llm", "jaxkd.llm")
progress.quiet_third_party()  # Hugging Face's bars and advisories would interleave with jaxkd's progress

from jaxkd.llm.config import ModelConfig  # noqa: E402
from jaxkd.llm.model import GPT2, Cache  # noqa: E402

__all__ = ["GPT2", "ModelConfig", "Cache"]
