"""Tokenizers for models trained from scratch: a byte-level BPE trained with ``tokenizers``."""

from __future__ import annotations

from typing import Iterable

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_bpe(texts: Iterable[str], vocab_size: int = 1024, min_frequency: int = 2):
    """Train GPT-2-style byte-level BPE on ``texts``; ``<|endoftext|>`` is id 0, ``<|pad|>`` id 1.

    Returns:
      A ``transformers.PreTrainedTokenizerFast`` (save it with ``save_pretrained``; reload with
      ``AutoTokenizer.from_pretrained``).
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus.")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                            special_tokens=[EOS, PAD], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, bos_token=EOS,
                                   pad_token=PAD, unk_token=EOS)
