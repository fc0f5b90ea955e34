"""GPT-2 configuration: a frozen dataclass that reads a Hugging Face ``config.json``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from jaxkd import _validation as v


@dataclasses.dataclass(frozen=True)
class GPT2Config:
    """Shape of a GPT-2 (Hugging Face ``GPT2Config`` field names where they exist).

    Attributes:
      vocab_size: tokens in the vocabulary (V).
      n_positions: longest sequence, learned positions (P).
      n_embd: model width (C); ``n_embd % n_head == 0``.
      n_layer: transformer blocks (L).
      n_head: attention heads (H); head size D = C / H.
      layer_norm_epsilon: LayerNorm epsilon (1e-5 in GPT-2).
      bos_token_id / eos_token_id: the end-of-text token (GPT-2 uses one for both).
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    layer_norm_epsilon: float = 1e-5
    bos_token_id: int = 50256
    eos_token_id: int = 50256

    def __post_init__(self):
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            v.check_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}).")
        v.check_positive("layer_norm_epsilon", self.layer_norm_epsilon)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    # Presets: the study's teacher and student shapes, and small shapes for CPU training.
    @classmethod
    def gpt2(cls) -> "GPT2Config":
        return cls()

    @classmethod
    def distilgpt2(cls) -> "GPT2Config":
        return cls(n_layer=6)

    @classmethod
    def small(cls, vocab_size: int = 1024, eos_token_id: int = 0) -> "GPT2Config":
        """A CPU-trainable teacher for the bundled corpus: 4 layers, width 128."""
        return cls(vocab_size=vocab_size, n_positions=128, n_embd=128, n_layer=4, n_head=4,
                   bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def tiny(cls, vocab_size: int = 1024, eos_token_id: int = 0) -> "GPT2Config":
        """A CPU-trainable student: 2 layers, width 64."""
        return cls(vocab_size=vocab_size, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                   bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def from_hf(cls, source) -> "GPT2Config":
        """Read a Hugging Face GPT-2 ``config.json`` (a path to it or its folder, or a dict)."""
        if not isinstance(source, dict):
            path = Path(source)
            path = path / "config.json" if path.is_dir() else path
            if not path.is_file():
                raise ValueError(f"no config.json at {path}.")
            try:
                source = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} is not valid JSON ({exc.msg}).") from None
        model_type = source.get("model_type", "gpt2")
        if model_type != "gpt2":
            raise ValueError(f"expected a GPT-2 checkpoint (model_type 'gpt2'), got {model_type!r}.")
        act = source.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"only GPT-2's tanh GELU is supported, config asks for {act!r}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: source[k] for k in fields if source.get(k) is not None})

    def to_hf(self) -> dict:
        """The Hugging Face ``config.json`` content for this shape."""
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
                "activation_function": "gelu_new", "n_inner": None, "tie_word_embeddings": True,
                **dataclasses.asdict(self)}
