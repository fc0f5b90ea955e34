"""Distil language models with jaxkd: a study-independent API (the public face of
:mod:`jaxkd.llm.pairs`, :mod:`jaxkd.llm.generation`, :mod:`jaxkd.llm.training`,
:mod:`jaxkd.llm.measures` and :mod:`jaxkd.llm.budget`, whose names it re-exports).

Give it a teacher and a student (jaxkd decoders: GPT-2 or the Llama family, e.g. from
:func:`jaxkd.llm.checkpoint.load` on a local Hugging Face folder), their tokenizer, prompt strings and an optional prompt template;
it samples teacher responses, chooses training targets, distils N students at once and
measures them. Inputs and outputs are plain (strings, token arrays, embeddings, stacked NNX
states, a record of floats); every random step takes an explicit key; nothing is kept between
calls.

The steps, in the order a distillation runs them::

    prompts = distill.encode_prompts(tok, questions, template="Q: {prompt}\\nA:")
    responses = distill.teacher_responses(teacher, tok, prompts, k, key, sampling_cfg)   # P x k
    pairs = distill.choose_targets("averaging", responses, embeddings=embed(responses))
    data = distill.encode_pairs(tok, [questions[p] for p, _ in pairs], [a for _, a in pairs],
                                template="Q: {prompt}\\nA:")                               # (M, L)
    students = distill.distill(student, data, order_keys=keys, epochs=3, batch_size=10)
    texts = distill.student_responses(students, tok, prompts, n, key, sampling_cfg)    # N x P x n
    numbers = distill.measure(embed(texts), embed(teacher_texts))                      # Measures

* Pairs and encoding (:mod:`jaxkd.llm.pairs`): :func:`encode_prompts`, :class:`Pairs` (M, L)
  from :func:`encode_pairs`, stacked (N, M, L) by :func:`stack_pairs`, :func:`decode`, and
  :func:`choose_targets` among teacher samples.
* Sampling (:mod:`jaxkd.llm.generation`): :func:`generate_texts`, :func:`teacher_responses`
  (P x k, or N x P x k with ``students=N``: each student its own independent draws, trained on
  its own pairs via :func:`stack_pairs`), :func:`student_responses` (N x P x n).
* Training (:mod:`jaxkd.llm.training`): :func:`distill` (returns :class:`Students`),
  :func:`fine_tune`; a fixed budget by default, or each student until its training or held-out
  loss stops moving (``stopping=Stopping(...)``, :class:`Convergence` per student).
* Measures (:mod:`jaxkd.llm.measures`): :func:`embed_texts`, :func:`measure` (a
  :class:`Measures` record), :func:`student_logprobs` (N, M), :func:`next_token_ece` (N,) and
  :func:`mass_outside` (N,: each student's mass outside a teacher's top k).
* Memory budgets (:mod:`jaxkd.llm.budget`): :func:`training_bytes`, :func:`sampling_bytes`,
  :func:`students_per_chunk`, :func:`sampling_blocks`, :func:`check_memory`.

Targets (:mod:`jaxkd.llm.selection`): ``single`` (one response per prompt, standard
distillation), ``multi`` (all k), ``averaging`` (the response closest to the mean embedding),
``variance-weighting`` (closest to the inverse-variance combination of teacher and student
mean embeddings) and ``soft`` (token-level soft targets: :func:`distill` with a ``teacher`` and
``loss=Loss("forward_kl")``, the teacher's logits computed per batch inside the compiled step;
or, with ``Loss(top_k=k)`` and ``teacher_logits=``, its top k and tail bucket read from a file
the teacher wrote once, :mod:`jaxkd.llm.teacher_logits`).

Training runs on jaxkd's one engine (:mod:`jaxkd.students.ensemble`): N students vmapped,
every epoch a permutation of each student's pairs without replacement from its own order key,
the last ragged batch kept (as the Hugging Face Trainer does), a block of steps per compiled
call, students in chunks sized from the memory estimate, the loss of every step returned.
"""

from __future__ import annotations

from jaxkd.llm.budget import check_memory, sampling_blocks, sampling_bytes, students_per_chunk, training_bytes
from jaxkd.llm.generation import generate_texts, student_responses, teacher_responses
from jaxkd.llm.measures import Measures, embed_texts, mass_outside, measure, next_token_ece, student_logprobs
from jaxkd.llm.families import check_model
from jaxkd.llm.objective import Loss
from jaxkd.llm.pairs import Pairs, choose_targets, decode, encode_pairs, encode_prompts, stack_pairs
from jaxkd.llm.selection import METHODS
from jaxkd.llm.training import Compute, Students, distill, fine_tune
from jaxkd.students.ensemble import Convergence, Stopping

__all__ = ["Pairs", "Compute", "Convergence", "Stopping", "Students", "Measures", "Loss", "METHODS", "encode_prompts", "encode_pairs", "stack_pairs",
           "teacher_responses", "generate_texts", "student_responses", "student_logprobs", "choose_targets",
           "distill", "fine_tune", "embed_texts", "measure", "mass_outside", "next_token_ece", "decode", "check_model",
           "training_bytes", "sampling_bytes", "students_per_chunk", "sampling_blocks", "check_memory"]
