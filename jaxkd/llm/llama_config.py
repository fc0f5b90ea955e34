"""Llama-family configuration (Llama, Qwen2, Qwen3, Mistral): a frozen dataclass that reads and
writes a Hugging Face ``config.json``, exact or refused.

The four families are one computation with per-family switches, read from ``model_type``:

==========  ===================================  ==================  ==========
model_type  q/k/v bias, output bias              q/k RMSNorm         MLP bias
==========  ===================================  ==================  ==========
llama       ``attention_bias``, ``attention_bias``   no              ``mlp_bias``
qwen2       always, never                        no                  never
qwen3       ``attention_bias``, ``attention_bias``   yes (per head)  never
mistral     never, never                         no                  never
==========  ===================================  ==================  ==========

Every field that changes the computation is implemented (grouped and multi-query heads,
``head_dim`` independent of ``hidden_size / num_attention_heads``, the rope types of
:mod:`jaxkd.llm.rope`, ``rms_norm_eps``, ``hidden_act``, tied or untied head, attention
dropout in training) or refused with a sentence naming it: any other rope type, a partial
rotary factor, interleaved rope, ``pretraining_tp`` > 1, a list of end-of-sequence ids, and any
field this module does not know (:data:`BOOKKEEPING` lists the Hugging Face fields read and
ignored because they change nothing jaxkd computes). A sliding window (Mistral's
``sliding_window``, Qwen's sliding layers) is accepted and the model refuses any sequence
longer than the window, where the window would change the result.
"""

from __future__ import annotations

import dataclasses

from jaxkd import _validation as v
from jaxkd.llm.activations import ACTIVATIONS
from jaxkd.llm.config import read_config
from jaxkd.llm.rope import ROPE_TYPES

FAMILIES = ("llama", "qwen2", "qwen3", "mistral")
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                 "mistral": "MistralForCausalLM"}

#: Hugging Face config fields that change nothing jaxkd computes (bookkeeping, generation
#: defaults, the init range: jaxkd initialises with N(0, 0.02), and the layer count from which
#: Qwen's sliding window starts, which the window check covers).
BOOKKEEPING = frozenset({
    "_name_or_path", "architectures", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "initializer_range", "pad_token_id", "output_attentions", "output_hidden_states", "return_dict",
    "id2label", "label2id", "problem_type", "is_encoder_decoder", "chunk_size_feed_forward", "tokenizer_class",
    "is_llama_config", "max_window_layers", "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads",
    "tie_encoder_decoder", "is_decoder", "cross_attention_hidden_size", "finetuning_task", "prefix",
    "task_specific_params", "sep_token_id", "decoder_start_token_id", "max_length", "min_length", "do_sample",
    "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
    "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", "model_type",
})

#: The config fields each rope type reads (besides ``rope_theta``).
_ROPE_FIELDS = {"default": (), "linear": ("factor",),
                "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Shape of a Llama-family decoder (Hugging Face field names).

    Attributes:
      model_type: the family, one of :data:`FAMILIES` (the per-family switches of the module table).
      vocab_size: tokens in the vocabulary (V).
      hidden_size: model width (C).
      intermediate_size: the SwiGLU MLP's hidden width (F).
      num_hidden_layers: decoder layers (L).
      num_attention_heads: query heads (H).
      num_key_value_heads: key/value heads (K), dividing H; None means H.
      head_dim: size of every head (D, even); None means C / H.
      max_position_embeddings: the longest sequence the model is used at (P).
      rms_norm_eps: RMSNorm epsilon.
      rope_theta, rope_type: the rotary base and scaling (:data:`jaxkd.llm.rope.ROPE_TYPES`);
        rope_factor, rope_low_freq_factor, rope_high_freq_factor,
        rope_original_max_position_embeddings: the scaling's parameters (linear: factor; llama3: all).
      hidden_act: the MLP gate's nonlinearity by its ``ACT2FN`` name (silu in every family).
      attention_bias, mlp_bias: the biases the family reads them for (module table).
      attention_dropout: dropout on the attention weights, in training with a dropout key only.
      tie_word_embeddings: the output head is the token embedding; False gives ``lm_head`` (V, C).
      sliding_window: the attention window of windowed layers (None: none); sequences longer
        than it are refused.
      bos_token_id / eos_token_id: the tokenizer's begin and end tokens (eos ends sampling).
    """

    model_type: str = "llama"
    vocab_size: int = 32000
    hidden_size: int = 576
    intermediate_size: int = 1536
    num_hidden_layers: int = 30
    num_attention_heads: int = 9
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_type: str = "default"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_position_embeddings: int = 8192
    hidden_act: str = "silu"
    attention_bias: bool = False
    mlp_bias: bool = False
    attention_dropout: float = 0.0
    tie_word_embeddings: bool = False
    sliding_window: int | None = None
    bos_token_id: int | None = 1
    eos_token_id: int = 2

    def __post_init__(self):
        v.check_choice("model_type", self.model_type, FAMILIES)
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                     "max_position_embeddings"):
            v.check_int(name, getattr(self, name))
        if self.num_key_value_heads is None:
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        v.check_int("num_key_value_heads", self.num_key_value_heads)
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}).")
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(f"hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                                 f"({self.num_attention_heads}); give head_dim.")
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        v.check_int("head_dim", self.head_dim)
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}.")
        v.check_positive("rms_norm_eps", self.rms_norm_eps)
        v.check_positive("rope_theta", self.rope_theta)
        if self.rope_type not in ROPE_TYPES:
            raise ValueError(f"rope type {self.rope_type!r} is not implemented in jaxkd (it has "
                             f"{', '.join(ROPE_TYPES)}).")
        v.check_positive("rope_factor", self.rope_factor)
        if self.rope_type == "llama3" and self.rope_high_freq_factor <= self.rope_low_freq_factor:
            raise ValueError("llama3 rope needs high_freq_factor > low_freq_factor.")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not implemented in jaxkd (it has "
                             f"{', '.join(sorted(ACTIVATIONS))}).")
        if not 0.0 <= v.check_nonnegative("attention_dropout", self.attention_dropout) < 1.0:
            raise ValueError(f"attention_dropout must lie in [0, 1), got {self.attention_dropout}.")
        for name in ("attention_bias", "mlp_bias", "tie_word_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if self.attention_bias and self.model_type in ("qwen2", "mistral"):
            raise ValueError(f"attention_bias is fixed in {self.model_type} (Hugging Face's "
                             f"{ARCHITECTURES[self.model_type]} ignores it); jaxkd refuses a value it would ignore.")
        if self.mlp_bias and self.model_type != "llama":
            raise ValueError(f"mlp_bias exists only in llama; {self.model_type}'s MLP has no bias.")
        if self.sliding_window is not None:
            v.check_int("sliding_window", self.sliding_window)
        v.check_int("eos_token_id", self.eos_token_id, minimum=0)

    # The names the shared code reads (attention cache, sampling, memory budgets, training).
    @property
    def n_layer(self) -> int:
        return self.num_hidden_layers

    @property
    def n_head(self) -> int:
        return self.num_attention_heads

    @property
    def n_kv_head(self) -> int:
        return self.num_key_value_heads

    @property
    def n_embd(self) -> int:
        return self.hidden_size

    @property
    def inner_dim(self) -> int:
        return self.intermediate_size

    @property
    def n_positions(self) -> int:
        """The longest sequence: ``max_position_embeddings``, or the sliding window when shorter
        (beyond it jaxkd would not compute what Hugging Face does)."""
        window = self.sliding_window if self.sliding_window is not None else self.max_position_embeddings
        return min(self.max_position_embeddings, window)

    @property
    def qkv_bias(self) -> bool:
        return self.model_type == "qwen2" or (self.model_type in ("llama", "qwen3") and self.attention_bias)

    @property
    def o_bias(self) -> bool:
        return self.model_type in ("llama", "qwen3") and self.attention_bias

    @property
    def qk_norm(self) -> bool:
        return self.model_type == "qwen3"

    @property
    def dropout(self) -> bool:
        """Whether training with a dropout key drops anything."""
        return self.attention_dropout > 0.0

    def without_dropout(self) -> "LlamaConfig":
        return dataclasses.replace(self, attention_dropout=0.0)

    @property
    def rope(self) -> dict:
        """The keyword arguments of :func:`jaxkd.llm.rope.inverse_frequencies` for this config."""
        return {"head_dim": self.head_dim, "theta": self.rope_theta, "rope_type": self.rope_type,
                "factor": self.rope_factor, "low_freq_factor": self.rope_low_freq_factor,
                "high_freq_factor": self.rope_high_freq_factor,
                "original_max_position_embeddings": self.rope_original_max_position_embeddings}

    # Presets: CPU-trainable shapes for the bundled corpus (the quick preset's Llama family).
    @classmethod
    def small(cls, vocab_size: int = 1024, eos_token_id: int = 0, model_type: str = "llama") -> "LlamaConfig":
        """A teacher of GPT-2 ``small``'s size: 4 layers, width 128, 4 query and 2 key/value heads."""
        return cls(model_type=model_type, vocab_size=vocab_size, hidden_size=128, intermediate_size=352,
                   num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                   tie_word_embeddings=True, bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def tiny(cls, vocab_size: int = 1024, eos_token_id: int = 0, model_type: str = "llama") -> "LlamaConfig":
        """A student of GPT-2 ``tiny``'s size: 2 layers, width 64, 4 query and 2 key/value heads."""
        return cls(model_type=model_type, vocab_size=vocab_size, hidden_size=64, intermediate_size=176,
                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                   tie_word_embeddings=True, bos_token_id=eos_token_id, eos_token_id=eos_token_id)

    @classmethod
    def from_hf(cls, source) -> "LlamaConfig":
        """Read a Hugging Face Llama, Qwen2, Qwen3 or Mistral ``config.json`` (a path to it or its
        folder, or a dict); ``ValueError`` naming the field for anything jaxkd cannot compute."""
        source = read_config(source)
        model_type = source.get("model_type")
        if model_type not in FAMILIES:
            raise ValueError(f"model_type {model_type!r} is not a Llama-family decoder jaxkd computes "
                             f"(it has {', '.join(FAMILIES)}).")
        values, used = {"model_type": model_type}, {"model_type"}

        def take(name, default=None):
            used.add(name)
            if source.get(name) is not None:
                values[name] = source[name]
            elif default is not None:
                values[name] = default

        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "hidden_act",
                     "attention_dropout"):
            take(name)
        take("tie_word_embeddings", False)  # Hugging Face's default for all four families
        if "bos_token_id" in source:  # null is a value here: Qwen has no begin token
            values["bos_token_id"] = source["bos_token_id"]
        used.add("bos_token_id")
        eos = source.get("eos_token_id")
        used.add("eos_token_id")
        if isinstance(eos, list):
            if len(eos) != 1:
                raise ValueError(f"eos_token_id lists {len(eos)} ids {eos}; jaxkd ends a sampled answer at one id: "
                                 "set eos_token_id in config.json to the one to stop at.")
            eos = eos[0]
        if eos is not None:
            values["eos_token_id"] = eos
        if model_type in ("llama", "qwen3"):
            take("attention_bias", False)
        elif source.get("attention_bias"):
            raise ValueError(f"attention_bias is true, but Hugging Face's {ARCHITECTURES[model_type]} has fixed "
                             "biases and ignores it; jaxkd refuses a field it would ignore.")
        used.add("attention_bias")
        if model_type == "llama":
            take("mlp_bias", False)
        elif source.get("mlp_bias"):
            raise ValueError(f"mlp_bias is true, but {model_type}'s MLP has no bias.")
        used.add("mlp_bias")
        _rope(source, values, used)
        _window(source, values, used, model_type)
        for name, ok in (("pretraining_tp", 1), ("partial_rotary_factor", 1.0), ("rope_interleaved", False),
                         ("add_cross_attention", False), ("use_mrope", False)):
            used.add(name)
            if source.get(name) not in (None, ok):
                raise ValueError(f"{name} is {source[name]!r} in this config; jaxkd computes only {name} = {ok!r}.")
        unknown = sorted(k for k in source if k not in used and k not in BOOKKEEPING)
        if unknown:
            raise ValueError(f"the config's field {unknown[0]!r} is not one jaxkd knows for {model_type}"
                             + (f" (nor {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
                             + "; jaxkd refuses what it might compute differently from Hugging Face.")
        return cls(**values)

    def to_hf(self) -> dict:
        """The Hugging Face ``config.json`` content (``transformers`` reads it to the same model)."""
        rope = {"rope_type": self.rope_type, "rope_theta": self.rope_theta,
                **{k: getattr(self, f"rope_{k}") for k in _ROPE_FIELDS[self.rope_type]}}
        out = {"model_type": self.model_type, "architectures": [ARCHITECTURES[self.model_type]],
               **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if not f.name.startswith("rope_") and f.name not in ("model_type", "sliding_window")},
               "rope_parameters": rope, "rope_theta": self.rope_theta,
               "rope_scaling": None if self.rope_type == "default" else rope}
        if self.model_type in ("qwen2", "mistral"):
            del out["attention_bias"]
        if self.model_type != "llama":
            del out["mlp_bias"]
        if self.model_type == "mistral":
            out["sliding_window"] = self.sliding_window
        elif self.model_type in ("qwen2", "qwen3"):
            windowed = self.sliding_window is not None
            out.update(use_sliding_window=windowed, sliding_window=self.sliding_window, max_window_layers=0,
                       layer_types=["sliding_attention" if windowed else "full_attention"] * self.num_hidden_layers)
        return out


def _rope(source: dict, values: dict, used: set) -> None:
    """The rope settings from ``rope_parameters`` (transformers 5) or ``rope_theta`` + ``rope_scaling``."""
    used.update({"rope_parameters", "rope_theta", "rope_scaling"})
    params = source.get("rope_parameters") or source.get("rope_scaling") or {}
    if not isinstance(params, dict):
        raise ValueError(f"rope_parameters must be a mapping, got {params!r}.")
    theta = params.get("rope_theta", source.get("rope_theta"))
    if theta is not None:
        values["rope_theta"] = theta
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"the config's rope type {rope_type!r} is not implemented in jaxkd (it has "
                         f"{', '.join(ROPE_TYPES)}).")
    values["rope_type"] = rope_type
    known = {"rope_type", "type", "rope_theta", *_ROPE_FIELDS[rope_type]}
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"partial_rotary_factor is {params['partial_rotary_factor']}; jaxkd rotates whole heads.")
    known.add("partial_rotary_factor")
    extra = sorted(set(params) - known)
    if extra:
        raise ValueError(f"the {rope_type} rope's field {extra[0]!r} is not one jaxkd computes.")
    for k in _ROPE_FIELDS[rope_type]:
        if params.get(k) is None:
            if k == "original_max_position_embeddings" and source.get("max_position_embeddings"):
                params = {**params, k: source["max_position_embeddings"]}  # Hugging Face's fallback
            else:
                raise ValueError(f"the {rope_type} rope needs {k}, which the config does not give.")
        values[f"rope_{k}"] = params[k]


def _window(source: dict, values: dict, used: set, model_type: str) -> None:
    """The attention window: Mistral's ``sliding_window``; Qwen's when a layer is windowed."""
    used.update({"sliding_window", "use_sliding_window", "layer_types"})
    window = source.get("sliding_window")
    if model_type == "mistral":
        values["sliding_window"] = window
        return
    types = source.get("layer_types") or []
    unknown = sorted(set(types) - {"full_attention", "sliding_attention"})
    if unknown:
        raise ValueError(f"layer_types holds {unknown[0]!r}; jaxkd computes full and sliding attention only.")
    windowed = "sliding_attention" in types or (source.get("use_sliding_window") and not types)
    if windowed:
        if window is None:
            raise ValueError("the config asks for sliding attention but gives no sliding_window.")
        values["sliding_window"] = window
