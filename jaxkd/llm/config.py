"""GPT-2 configuration: a frozen dataclass that reads a Hugging Face ``config.json``.

Import is exact or refuses. Every ``ModelConfig`` field that changes what a GPT-2 computes is
either implemented here (``n_inner``, ``activation_function``, ``scale_attn_weights``,
``scale_attn_by_inverse_layer_idx``, ``reorder_and_upcast_attn``, ``layer_norm_epsilon``,
``tie_word_embeddings``) or refused with a sentence naming it (``add_cross_attention``, an
activation jaxkd does not have). The dropout rates (``embd_pdrop``, ``resid_pdrop``,
``attn_pdrop``) are read and applied in training when a dropout key is given (inference never
drops). Fields that only matter elsewhere are read and ignored: ``initializer_range`` (jaxkd
initialises with GPT-2's 0.02), the ``summary_*`` fields (GPT2DoubleHeadsModel only),
``use_cache``, ``pad_token_id`` and Hugging Face bookkeeping.

The class is jaxkd's own (``ModelConfig``), not ``transformers.GPT2Config``:
:meth:`ModelConfig.from_hf` reads the latter's ``config.json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from jaxkd import _validation as v
from jaxkd.llm.activations import ACTIVATIONS


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of a GPT-2 (Hugging Face ``ModelConfig`` field names where they exist).

    Attributes:
      vocab_size: tokens in the vocabulary (V).
      n_positions: longest sequence, learned positions (P).
      n_embd: model width (C); ``n_embd % n_head == 0``.
      n_layer: transformer blocks (L).
      n_head: attention heads (H); head size D = C / H.
      layer_norm_epsilon: LayerNorm epsilon (1e-5 in GPT-2).
      bos_token_id / eos_token_id: the end-of-text token (GPT-2 uses one for both).
      n_inner: MLP hidden width; None means 4 * n_embd.
      activation_function: the MLP nonlinearity, by its Hugging Face ``ACT2FN`` name
        (:data:`jaxkd.llm.activations.ACTIVATIONS` lists those implemented; GPT-2 uses "gelu_new").
      scale_attn_weights: divide attention scores by sqrt(head size) (True in GPT-2).
      scale_attn_by_inverse_layer_idx: also divide layer i's scores by i + 1.
      reorder_and_upcast_attn: compute attention scores and softmax in float32 whatever the
        parameter dtype (Hugging Face's Mistral-style stabilisation; a no-op in float32).
      tie_word_embeddings: the output head is the token embedding (GPT-2); False gives the
        model its own ``lm_head`` (V, C).
      embd_pdrop / resid_pdrop / attn_pdrop: dropout on the embeddings, on each residual branch
        and on the attention weights, applied only in training with a dropout key (Hugging Face's
        GPT-2 and DistilGPT2 use 0.1; jaxkd's small presets 0).
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    layer_norm_epsilon: float = 1e-5
    bos_token_id: int = 50256
    eos_token_id: int = 50256
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    tie_word_embeddings: bool = True
    embd_pdrop: float = 0.0
    resid_pdrop: float = 0.0
    attn_pdrop: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            v.check_int(name, getattr(self, name))
        if self.n_inner is not None:
            v.check_int("n_inner", self.n_inner)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}).")
        v.check_positive("layer_norm_epsilon", self.layer_norm_epsilon)
        if self.activation_function not in ACTIVATIONS:
            raise ValueError(f"activation_function {self.activation_function!r} is not implemented in "
                             f"jaxkd's GPT-2 (it has {', '.join(sorted(ACTIVATIONS))}).")
        for name in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
            if not 0.0 <= v.check_nonnegative(name, getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}.")
        for name in ("scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
                     "tie_word_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}.")

    @property
    def dropout(self) -> bool:
        """Whether training with a dropout key drops anything."""
        return max(self.embd_pdrop, self.resid_pdrop, self.attn_pdrop) > 0.0

    def without_dropout(self) -> "ModelConfig":
        return dataclasses.replace(self, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_kv_head(self) -> int:
        """Key/value heads: GPT-2 has one per query head (the shared cache reads this)."""
        return self.n_head

    @property
    def model_type(self) -> str:
        return "gpt2"

    @property
    def inner_dim(self) -> int:
        """The MLP's hidden width: ``n_inner``, or 4 * n_embd when it is None."""
        return 4 * self.n_embd if self.n_inner is None else self.n_inner

    # Presets: the study's teacher and student shapes, and small shapes for CPU training.
    @classmethod
    def gpt2(cls) -> "ModelConfig":
        return cls()

    @classmethod
    def distilgpt2(cls) -> "ModelConfig":
        return cls(n_layer=6)

    @classmethod
    def small(cls, vocab_size: int = 1024, eos_token_id: int = 0) -> "ModelConfig":
        """A CPU-trainable teacher for the bundled corpus: 4 layers, width 128."""
        return cls(vocab_size=vocab_size, n_positions=128, n_embd=128, n_layer=4, n_head=4,
                   bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def tiny(cls, vocab_size: int = 1024, eos_token_id: int = 0) -> "ModelConfig":
        """A CPU-trainable student: 2 layers, width 64."""
        return cls(vocab_size=vocab_size, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                   bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def from_hf(cls, source) -> "ModelConfig":
        """Read a Hugging Face GPT-2 ``config.json`` (a path to it or its folder, or a dict)."""
        source = read_config(source)
        model_type = source.get("model_type", "gpt2")
        if model_type != "gpt2":
            raise ValueError(f"expected a GPT-2 checkpoint (model_type 'gpt2'), got {model_type!r}.")
        if source.get("add_cross_attention"):
            raise ValueError("add_cross_attention is true in this config: jaxkd's GPT-2 has no "
                             "cross-attention layers, so it cannot compute this model.")
        act = source.get("activation_function", "gelu_new")
        if act not in ACTIVATIONS:
            raise ValueError(f"the config's activation_function {act!r} is not implemented in jaxkd's "
                             f"GPT-2 (it has {', '.join(sorted(ACTIVATIONS))}).")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: source[k] for k in fields if source.get(k) is not None}
        # Hugging Face's defaults where the config omits a field (older checkpoints do).
        values.setdefault("tie_word_embeddings", True)
        for name in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
            values.setdefault(name, 0.1)
        return cls(**values)

    def to_hf(self) -> dict:
        """The Hugging Face ``config.json`` content for this shape."""
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "add_cross_attention": False,
                **dataclasses.asdict(self)}


def read_config(source) -> dict:
    """A Hugging Face ``config.json`` as a dict (given a dict, its path, or its folder); both
    families' ``from_hf`` read through it."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    path = path / "config.json" if path.is_dir() else path
    if not path.is_file():
        raise ValueError(f"no config.json at {path}.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}).") from None
