"""Distil a Hugging Face GPT-2 teacher into four students with every target method.

Everything a user would have on disk is made here first, offline: a byte-level BPE, a random
tiny ``GPT2LMHeadModel`` teacher (2 layers) and student (1 layer) saved with
``save_pretrained``. jaxkd then loads both folders and, for each target method, distils four
students at once and measures them against the teacher's own samples::

    python examples/distil_hf_gpt2.py [--folder DIR] [--students 4] [--epochs 8]

The checkpoints carry Hugging Face's default dropout (0.1), so the students train with it, each
with its own dropout key, as the Hugging Face Trainer would. Prints one markdown row per method:
alignment, between-student variance (uncorrected, its sampling floor, corrected; S.1), the final
training loss, training steps, pairs and tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

QUESTIONS = ["What colour is the sky?", "What do cows drink?", "Where is Paris?", "How many legs has a cat?"]


def make_checkpoints(folder: Path):
    """A tokenizer and two random tiny Hugging Face GPT-2 folders (what a user brings)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from jaxkd.llm import tokenizer

    words = ["blue sky", "grey clouds", "water", "milk", "in France", "four legs", "four"]
    tok = tokenizer.train_bpe([f"Q: {q}\nA: {w}" for q in QUESTIONS for w in words] * 3, vocab_size=300)
    folders = {}
    for role, layers in (("teacher", 2), ("student", 1)):
        torch.manual_seed(len(role))
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=layers,
                                           n_head=4, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))
        folders[role] = folder / role
        model.save_pretrained(folders[role])
        tok.save_pretrained(folders[role])
    return folders


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path, default=None, help="where to write the checkpoints (default: a temp dir)")
    p.add_argument("--students", type=int, default=4)
    p.add_argument("--epochs", type=int, default=8, help="passes over each student's pairs")
    p.add_argument("--k", type=int, default=3, help="teacher responses per prompt")
    args = p.parse_args(argv)

    import jax

    from jaxkd.llm import checkpoint, distill, sampling
    from jaxkd.llm.embeddings import Embedder

    with tempfile.TemporaryDirectory() as tmp:
        folders = make_checkpoints(args.folder or Path(tmp))
        teacher, student = checkpoint.load(folders["teacher"]), checkpoint.load(folders["student"])
        tok = checkpoint.load_tokenizer(folders["teacher"])

    template = "Q: {prompt}\nA:"
    prompts = distill.encode_prompts(tok, QUESTIONS, template)
    sample = sampling.SamplingConfig(max_new_tokens=8, temperature=1.0, top_k=50)
    embedder = Embedder()
    key = jax.random.key(0)
    responses = distill.teacher_responses(teacher, tok, prompts, args.k, jax.random.fold_in(key, 0), sample)
    embs = distill.embed_texts(embedder, responses)
    own = distill.embed_texts(embedder, distill.generate_texts(student, tok, prompts, args.k,
                                                               jax.random.fold_in(key, 1), sample))
    evaluation = distill.embed_texts(embedder, distill.teacher_responses(teacher, tok, prompts, 5,
                                                                         jax.random.fold_in(key, 2), sample))
    order = jax.random.split(jax.random.fold_in(key, 3), args.students)    # one data order per student
    dropout = jax.random.split(jax.random.fold_in(key, 5), args.students)  # one dropout stream per student
    rows = []
    for method in distill.METHODS:
        pairs = distill.choose_targets(method, responses, embs, own)
        data = distill.encode_pairs(tok, [QUESTIONS[q] for q, _ in pairs], [a for _, a in pairs], template=template)
        soft = method == "soft"
        students = distill.distill(student, data, order_keys=order, dropout_keys=dropout, epochs=args.epochs,
                                   batch_size=4, learning_rate=1e-3, loss=distill.Loss("forward_kl" if soft else "ce"),
                                   teacher=teacher if soft else None)
        texts = distill.student_responses(students, tok, prompts, 5, jax.random.fold_in(key, 4), sample)
        m = distill.measure(distill.embed_texts(embedder, texts), evaluation)
        rows.append({"method": method, "students": students.num_students, **m.to_dict(),
                     **dataclasses.asdict(students.compute), "final_loss": float(students.losses[:, -1].mean())})
    print("| method | students | alignment | between-student var. | floor | corrected | final loss | steps | pairs "
          "| tokens |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['students']} | {r['alignment']:.3f} | {r['inter_student_variance']:.2e} | "
              f"{r['inter_student_variance_floor']:.2e} | {r['inter_student_variance_corrected']:.2e} | "
              f"{r['final_loss']:.3f} | {r['steps']} | {r['pairs']} | {r['training_tokens']} |")
    return rows


if __name__ == "__main__":
    main()
