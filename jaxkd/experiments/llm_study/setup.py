"""The shared setup of the llm-* experiments (corpus, tokenizer, teacher, base student), the
task built on it, and the on-disk cache of shared work.

quick preset (CPU, offline): the bundled synthetic QA corpus (questions whose answer
distributions are known), a byte-level BPE trained on it, a small GPT-2 teacher trained from
scratch on answers drawn from those distributions, and a tiny GPT-2 *base* student pre-trained
on the corpus's language only: questions alone and answers alone, never a question followed by
its answer, so the question -> answer mapping is learnt from distillation alone. paper preset:
``--teacher`` and ``--student`` Hugging Face checkpoint folders (GPT-2 / DistilGPT2) and a
BioASQ (or plain QA JSON) file; the teacher is fine-tuned on it, the student is used as published.

Shared work is explicit: the setup is a pure function of a :class:`SetupConfig`, cached in the
run's ``shared`` folder under a hash of that whole config; distillations other experiments
reuse are cached there under a hash of every :class:`LLMConfig` field and their arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import rng
from jaxkd.data import qa
from jaxkd.experiments.llm_study.config import LLMConfig, SetupConfig
from jaxkd.llm import ModelConfig, checkpoint, distill, tokenizer
from jaxkd.llm.model import init as init_gpt2
from jaxkd.runs import atomic_write_json, read_json, to_jsonable

PROMPT_TEMPLATE = "Q: {prompt}\nA:"


def prompt_text(question: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=question)


@dataclasses.dataclass
class Setup:
    """The shared setup: QA corpus, tokenizer, trained teacher and base student, and the
    training curves of the last two (loss per step)."""

    corpus: qa.QACorpus
    tok: object
    teacher: object
    base: object
    teacher_losses: np.ndarray
    base_losses: np.ndarray


@dataclasses.dataclass
class Task:
    """Everything the experiments share: the config, the setup, the embedder, the encoded
    prompts, each prompt's valid-answer centroids, and one scoring sequence per valid answer
    (its first paraphrase) for the teacher-forced log-probabilities."""

    cfg: LLMConfig
    setup: Setup
    embedder: object
    prompts: list[list[int]]
    centroids: list[np.ndarray]       # per prompt: (K, 384) valid-answer centroids
    answers: distill.Pairs            # (A, L): every prompt's valid answers, prompt by prompt
    shared: Path | None = None        # the run's shared folder (None: nothing is cached)

    @property
    def corpus(self) -> qa.QACorpus:
        return self.setup.corpus

    @property
    def tok(self):
        return self.setup.tok

    @property
    def teacher(self):
        return self.setup.teacher

    @property
    def base(self):
        return self.setup.base

    @property
    def eos(self) -> int:
        return self.tok.eos_token_id


def encode_pairs(tok, corpus: qa.QACorpus, pairs) -> distill.Pairs:
    """(prompt index, answer text) pairs -> right-padded training sequences (M, L)."""
    return distill.encode_pairs(tok, [corpus.items[p].question for p, _ in pairs], [t for _, t in pairs],
                                template=PROMPT_TEMPLATE)


def language_pairs(tok, corpus: qa.QACorpus) -> distill.Pairs:
    """The base student's pre-training text: every question alone (``"Q: {question}"``) and
    every answer paraphrase alone (``"A: {answer}"``, valid answers and distractors), each
    followed by end-of-text. No sequence holds a question and its answer."""
    questions = distill.encode_pairs(tok, [""] * len(corpus), [f"Q: {q.question}" for q in corpus.items],
                                     answer_prefix="")
    texts = sorted({t for it in corpus.items for ps in it.paraphrases for t in ps}
                   | {t for ds in corpus.distractors for ps in ds for t in ps})
    answers = distill.encode_pairs(tok, ["A:"] * len(texts), texts)
    L = max(questions.tokens.shape[1], answers.tokens.shape[1])
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=fill)  # noqa: E731
    return distill.Pairs(*(np.concatenate([pad(getattr(q, f), tok.eos_token_id if f == "tokens" else 0)
                                           for q in (questions, answers)])
                           for f in ("tokens", "mask", "loss_mask")))


def _corpus(scfg: SetupConfig) -> qa.QACorpus:
    if scfg.qa_file is None:
        return qa.synthetic_qa(scfg.num_questions, seed=scfg.seed)
    return load_qa(scfg.qa_file)


def load_qa(path) -> qa.QACorpus:
    """A BioASQ file or a plain ``[{question, answer}]`` JSON file (told apart by their shape)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--qa-file {path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    return qa.load_bioasq(path) if isinstance(data, dict) else qa.load_qa_json(path)


def build_setup(scfg: SetupConfig) -> Setup:
    """Corpus, tokenizer, trained teacher and base student: a pure function of ``scfg``."""
    key = rng.stream(scfg.seed, "llm_setup")
    corpus = _corpus(scfg)
    if scfg.teacher is None:
        texts = [prompt_text(it.question) for it in corpus.items]
        texts += [" " + t for it in corpus.items for ps in it.paraphrases for t in ps]
        texts += [" " + t for ds in corpus.distractors for ps in ds for t in ps]
        tok = tokenizer.train_bpe(texts, vocab_size=scfg.vocab_size)
        teacher = init_gpt2(ModelConfig.small(len(tok), tok.eos_token_id), jax.random.fold_in(key, 0))
        base = init_gpt2(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.fold_in(key, 1))
        optimizer = "warmup-cosine"  # small GPT-2s trained from scratch
    else:
        tok = checkpoint.load_tokenizer(scfg.teacher)
        teacher, base = checkpoint.load(scfg.teacher), checkpoint.load(scfg.student)
        optimizer = "trainer"  # fine-tuning a published checkpoint, as the study
    # Teacher: answers drawn from the known distributions. Base student: the corpus's language
    # only (questions alone, answers alone), never the question -> answer mapping.
    truth = [(q, t) for q, _, t in corpus.sample(scfg.seed, per_question=32)]
    teacher_key = jax.random.fold_in(key, 2)
    teacher, teacher_losses = distill.fine_tune(
        teacher, encode_pairs(tok, corpus, truth), teacher_key, epochs=scfg.teacher_epochs,
        batch_size=scfg.batch_size, optimizer=optimizer, learning_rate=scfg.learning_rate,
        dropout_key=jax.random.fold_in(teacher_key, 1) if teacher.config.dropout else None)
    base_losses = np.zeros(0, np.float32)
    if scfg.base_epochs:
        base, base_losses = distill.fine_tune(base, language_pairs(tok, corpus), jax.random.fold_in(key, 3),
                                              epochs=scfg.base_epochs, batch_size=scfg.batch_size,
                                              optimizer=optimizer, learning_rate=scfg.learning_rate)
    return Setup(corpus, tok, teacher, base, np.asarray(teacher_losses), np.asarray(base_losses))


# --- the on-disk cache of shared work -----------------------------------------------------------


def _stamp(path) -> list:
    """What identifies an input file or folder's content cheaply: names, sizes, mtimes."""
    if path is None:
        return []
    path = Path(path)
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [[str(f.relative_to(path) if path.is_dir() else f.name), f.stat().st_size, f.stat().st_mtime_ns]
            for f in files if f.is_file()]


def _digest(payload: dict) -> str:
    import jaxkd

    text = json.dumps({"jaxkd": jaxkd.__version__, **to_jsonable(payload)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def setup_key(scfg: SetupConfig) -> str:
    """The cache key of a setup: a hash of every :class:`SetupConfig` field, the jaxkd version
    and the size and modification time of each input file (checkpoints, QA file)."""
    return _digest({"setup": dataclasses.asdict(scfg),
                    "inputs": [_stamp(p) for p in (scfg.teacher, scfg.student, scfg.qa_file)]})


def _plain_args(args: dict) -> dict:
    return {k: (np.asarray(jax.random.key_data(a)).tolist() if isinstance(a, jax.Array)
                and jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a) for k, a in args.items()}


def work_key(cfg: LLMConfig, kind: str, **args) -> str:
    """Cache key of shared student work: every :class:`LLMConfig` field (those of experiment
    subclasses are not used by shared work), the setup's key, ``kind`` and its arguments."""
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(LLMConfig)}
    return _digest({"kind": kind, "config": fields, "setup": setup_key(SetupConfig.of(cfg)), "args": _plain_args(args)})


def load_setup(scfg: SetupConfig, shared=None) -> Setup:
    """The setup for ``scfg``: from ``shared/setup-<key>`` when a previous run built it there,
    else built by :func:`build_setup` (and stored there when ``shared`` is given)."""
    if shared is None:
        return build_setup(scfg)
    folder = Path(shared) / f"setup-{setup_key(scfg)}"
    if not (folder / "done").is_file():
        made = build_setup(scfg)
        tmp = Path(shared) / f".{folder.name}.{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        checkpoint.save(made.teacher, tmp / "teacher", tokenizer=made.tok)
        checkpoint.save(made.base, tmp / "base")
        atomic_write_json(tmp / "losses.json", {"teacher": made.teacher_losses, "base": made.base_losses})
        (tmp / "done").write_text("complete\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return made
    losses = read_json(folder / "losses.json")
    return Setup(_corpus(scfg), checkpoint.load_tokenizer(folder / "teacher"), checkpoint.load(folder / "teacher"),
                 checkpoint.load(folder / "base"), np.asarray(losses["teacher"], np.float32),
                 np.asarray(losses["base"], np.float32))


def cached(task: Task, key: str, compute, *, load=None):
    """``compute()`` (JSON-able, or an object with ``to_json``), stored as
    ``shared/work-<key>.json`` for later runs; ``load`` turns the stored JSON back into the
    object (the same value whether computed now or read later)."""
    load = load or (lambda x: x)
    if task.shared is None:
        return load(to_jsonable(compute()))
    path = task.shared / f"work-{key}.json"
    if not path.is_file():
        atomic_write_json(path, compute())
    return load(read_json(path))


def build_task(cfg: LLMConfig, shared=None) -> Task:
    """Corpus, tokenizer, teacher and base student for ``cfg`` (see the module docstring);
    ``shared``: the run's shared folder (None: nothing is cached)."""
    from jaxkd.experiments.llm_study.memory import guard_memory
    from jaxkd.llm.embeddings import Embedder, answer_centroids

    guard_memory(cfg)
    setup = load_setup(SetupConfig.of(cfg), shared)
    embedder = Embedder(cache_file=None if shared is None else Path(shared) / "embeddings.npz")
    corpus = setup.corpus
    prompts = distill.encode_prompts(setup.tok, [it.question for it in corpus.items], PROMPT_TEMPLATE)
    embedder.encode([t for it in corpus.items for ps in it.paraphrases for t in ps])  # one call: few passes
    centroids = [answer_centroids(embedder, it.paraphrases) for it in corpus.items]
    answers = encode_pairs(setup.tok, corpus, [(p, ps[0]) for p, it in enumerate(corpus.items)
                                               for ps in it.paraphrases])
    return Task(cfg, setup, embedder, prompts, centroids, answers, None if shared is None else Path(shared))
