"""Text to token arrays and back: prompts, the training pairs of distillation and the choice of
their answers among teacher samples, and decoding generated rows.

Shapes: P prompts, M pairs, N students, L the padded sequence length (all token arrays int32,
right-padded with EOS).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from jaxkd.llm.selection import select


def _check_template(template: str) -> str:
    if not isinstance(template, str) or "{prompt}" not in template:
        raise ValueError(f"a prompt template must be a string containing {{prompt}}, got {template!r}.")
    try:
        template.format(prompt="")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"the prompt template {template!r} has fields other than {{prompt}}.") from None
    return template


def _prompt_ids(tokenizer, text: str, chat: bool) -> list[int]:
    """The tokens of one prompt: as written, or (``chat``) as the user turn of the tokenizer's
    chat template followed by the assistant's generation prompt."""
    if not chat:
        return tokenizer(text)["input_ids"]
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                             tokenize=False)
    return tokenizer(rendered, add_special_tokens=False)["input_ids"]


def _check_chat(tokenizer, chat: bool) -> None:
    if chat and getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("chat=True applies the tokenizer's chat template, but this tokenizer has none; "
                         "leave chat=False to encode the prompts as written.")


def encode_prompts(tokenizer, prompts: Sequence[str], template: str = "{prompt}", *,
                   chat: bool = False) -> list[list[int]]:
    """Token ids of each prompt written into ``template`` (which holds ``{prompt}``): P lists.
    ``chat=True`` wraps each in the tokenizer's chat template (a user turn and the assistant's
    generation prompt); by default none is applied, whatever the tokenizer has."""
    template = _check_template(template)
    _check_chat(tokenizer, chat)
    if isinstance(prompts, str) or not len(prompts):
        raise ValueError("prompts must be a non-empty list of strings.")
    return [_prompt_ids(tokenizer, template.format(prompt=p), chat) for p in prompts]


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Prompt + answer sequences for training, right-padded with EOS.

    tokens, mask, loss_mask: (M, L) int32 (or (N, M, L) with a student axis, see
    :func:`stack_pairs`); ``mask`` is 1 on real tokens, ``loss_mask`` 1 on the answer tokens
    (the prompt is not scored).
    """

    tokens: np.ndarray
    mask: np.ndarray
    loss_mask: np.ndarray

    @property
    def per_student(self) -> bool:
        return self.tokens.ndim == 3

    @property
    def num_pairs(self) -> int:
        return self.tokens.shape[-2]


def encode_pairs(tokenizer, prompts: Sequence[str], answers: Sequence[str], *, template: str = "{prompt}",
                 answer_prefix: str = " ", chat: bool = False) -> Pairs:
    """Training sequences (M, L): ``template(prompt)`` tokens (in the chat template with
    ``chat=True``, as :func:`encode_prompts`), then ``answer_prefix + answer.strip()`` tokens
    and EOS, for each of the M (prompt, answer) pairs. Only the answer and EOS are scored."""
    template = _check_template(template)
    _check_chat(tokenizer, chat)
    if len(prompts) != len(answers) or not len(prompts):
        raise ValueError(f"need one answer per prompt and at least one pair; got {len(prompts)} prompts "
                         f"and {len(answers)} answers.")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos_token_id; answers must end with an end-of-text token.")
    seqs, scored = [], []
    for p, text in zip(prompts, answers):
        prompt = _prompt_ids(tokenizer, template.format(prompt=p), chat)
        answer = tokenizer(answer_prefix + text.strip())["input_ids"] + [eos]
        seqs.append(prompt + answer)
        scored.append([0] * len(prompt) + [1] * len(answer))
    return _padded(seqs, scored, eos)


def _padded(seqs, scored, eos, width=None) -> Pairs:
    L = width or max(len(s) for s in seqs)
    tokens = np.full((len(seqs), L), eos, np.int32)
    mask, loss = np.zeros_like(tokens), np.zeros_like(tokens)
    for i, (s, w) in enumerate(zip(seqs, scored)):
        tokens[i, : len(s)], mask[i, : len(s)], loss[i, : len(s)] = s, 1, w
    return Pairs(tokens, mask, loss)


def stack_pairs(per_student: Sequence[Pairs], eos: int) -> Pairs:
    """One :class:`Pairs` per student (same number of pairs each) -> (N, M, L) on a student axis."""
    if not per_student or any(p.per_student for p in per_student):
        raise ValueError("stack_pairs takes a non-empty list of unstacked Pairs.")
    if len({p.num_pairs for p in per_student}) != 1:
        raise ValueError("every student needs the same number of training pairs to train in one step.")
    L = max(p.tokens.shape[1] for p in per_student)

    def pad(a, fill):
        return np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=fill)

    return Pairs(*(np.stack([pad(getattr(p, f), eos if f == "tokens" else 0) for p in per_student])
                   for f in ("tokens", "mask", "loss_mask")))


def decode(tokenizer, rows, eos: int) -> list[str]:
    """Generated token rows (S, T) -> S stripped strings, each cut at its first EOS."""
    out = []
    for row in np.asarray(rows):
        cut = np.flatnonzero(row == eos)
        out.append(tokenizer.decode(row[: cut[0]] if cut.size else row).strip())
    return out


def choose_targets(method: str, responses, embeddings=None, student_embeddings=None) -> list[tuple[int, str]]:
    """Training pairs (prompt index, answer) for one target ``method`` of
    :mod:`jaxkd.llm.selection` (``single``, ``multi``, ``averaging``, ``variance-weighting``...).

    Args:
      responses: k teacher responses per prompt (P lists of k strings).
      embeddings: their unit-norm embeddings (P, k, E) (averaging, variance-weighting).
      student_embeddings: the student's own pre-distillation samples (P, ks, E)
        (variance-weighting).
    """
    return select(method, responses, embeddings, student_embeddings)
