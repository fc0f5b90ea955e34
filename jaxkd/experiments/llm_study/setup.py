"""The shared setup of the llm-* experiments (corpus, tokenizer, teacher, base student), the
task built on it, and the on-disk cache of shared work.

quick preset (CPU, offline): the bundled synthetic QA corpus (questions whose answer
distributions are known), a byte-level BPE trained on it, a small teacher (GPT-2, or with
``--model llama`` a Llama-family decoder of the same size) trained from
scratch on answers drawn from those distributions (asked in both of each question's phrasings),
and one tiny *base* student of the same family per replicate (its own init and data order) pre-trained on the
corpus's language only: questions alone and answers alone, never a question followed by its
answer, so the question -> answer mapping is learnt from distillation alone. paper preset:
``--teacher`` and ``--student`` Hugging Face checkpoint folders (the study's GPT-2 / DistilGPT2,
or any pair of one family that shares a tokenizer) and a
BioASQ (or plain QA JSON) file; the teacher is fine-tuned on its distillation questions, the
student is used as published (every replicate starts from it, as the study's students did).

Students are measured on :attr:`Task.eval_prompts`: their distillation prompts
(``evaluation="distillation"``, the quick preset), or prompts held out from distillation
(``"held-out"``, the paper preset): the synthetic corpus's questions in a held-out phrasing (the
same questions, so the known answer distributions still apply) or 20% of a QA file's questions.

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
from flax import nnx

from jaxkd import progress, provenance, rng
from jaxkd.data import qa
from jaxkd.experiments.llm_study.config import LLMConfig, SetupConfig
from jaxkd.experiments.llm_study.memory import guard_memory
from jaxkd.llm import checkpoint, distill, families, metrics, tokenizer
from jaxkd.llm.embeddings import Embedder, answer_centroids
from jaxkd.runs import atomic_write_json, read_json, to_jsonable

PROMPT_TEMPLATE = "Question: {prompt}\nAnswer:"  # the study's prompt
TRUTH_SAMPLES = 32    # teacher training answers per question and phrasing (quick preset)
EVAL_FRACTION = 0.2   # single-answer corpora: questions held out from distillation for evaluation


def prompt_text(question: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=question)


@dataclasses.dataclass
class Setup:
    """The shared setup: the questions distilled on (``corpus``) and those models are measured
    on (``eval_corpus``, the same order of questions as the teacher was asked about), the
    tokenizer, the trained teacher, the base students of the R replicates (``bases``:
    parameters stacked (R, ...); ``base``: replicate 0's as a model, the shape every student
    has), and the training curves of the teacher (steps,) and the bases (R, steps)."""

    corpus: qa.QACorpus
    eval_corpus: qa.QACorpus
    tok: object
    teacher: object
    base: object
    bases: object
    teacher_losses: np.ndarray
    base_losses: np.ndarray


@dataclasses.dataclass
class Task:
    """Everything the experiments share: the config, the setup, the embedder, the encoded
    distillation prompts (``prompts``) and evaluation prompts (``eval_prompts``), each
    evaluation question's valid-answer centroids, one scoring sequence per valid answer after its
    evaluation prompt (its first paraphrase) for the teacher-forced log-probabilities, and the
    noise the true answer distribution itself has per question (S.4)."""

    cfg: LLMConfig
    setup: Setup
    embedder: object
    prompts: list[list[int]]
    eval_prompts: list[list[int]]
    centroids: list[np.ndarray]       # per evaluation question: (K, 384) valid-answer centroids
    answers: distill.Pairs            # (A, L): every evaluation question's valid answers, in order
    truth_noise: np.ndarray           # (P_eval,) S.4
    shared: Path | None = None        # the run's shared folder (None: nothing is cached)

    @property
    def corpus(self) -> qa.QACorpus:
        return self.setup.corpus

    @property
    def eval_corpus(self) -> qa.QACorpus:
        return self.setup.eval_corpus

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

    @property
    def single_answer(self) -> bool:
        """Whether every question has one valid answer (BioASQ): distribution measures then
        degenerate, and the criteria read the cosine to the reference answer (the study's)."""
        return all(len(it.answers) == 1 for it in self.eval_corpus.items)

    def base_states(self, lo: int = 0, hi: int | None = None):
        """Students lo..hi-1's starting parameters (default all R*N): student s starts from
        its replicate's base, ``s // N``; (hi - lo, ...). Only the students asked for are
        materialised, so a chunk of students never costs the memory of all of them."""
        hi = self.cfg.total_students if hi is None else hi
        rep = np.arange(lo, hi) // self.cfg.num_students
        return jax.tree.map(lambda a: jnp.asarray(a)[rep], self.setup.bases)


def encode_pairs(tok, corpus: qa.QACorpus, pairs) -> distill.Pairs:
    """(question index, answer text) pairs -> right-padded training sequences (M, L)."""
    return distill.encode_pairs(tok, [corpus.items[p].question for p, _ in pairs], [t for _, t in pairs],
                                template=PROMPT_TEMPLATE)


def language_pairs(tok, corpora) -> distill.Pairs:
    """The base student's pre-training text: every question alone (``"Question: {question}"``,
    each phrasing) and every answer paraphrase alone (``"Answer: {answer}"``, valid answers and
    distractors), each followed by end-of-text. No sequence holds a question and its answer."""
    questions = sorted({q.question for c in corpora for q in c.items})
    asked = distill.encode_pairs(tok, [""] * len(questions), [f"Question: {q}" for q in questions], answer_prefix="")
    texts = sorted({t for c in corpora for it in c.items for ps in it.paraphrases for t in ps}
                   | {t for c in corpora for ds in c.distractors for ps in ds for t in ps})
    answers = distill.encode_pairs(tok, ["Answer:"] * len(texts), texts)
    L = max(asked.tokens.shape[1], answers.tokens.shape[1])
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=fill)  # noqa: E731
    return distill.Pairs(*(np.concatenate([pad(getattr(q, f), tok.eos_token_id if f == "tokens" else 0)
                                           for q in (asked, answers)])
                           for f in ("tokens", "mask", "loss_mask")))


def corpora(scfg: SetupConfig) -> tuple[qa.QACorpus, qa.QACorpus]:
    """(distillation questions, evaluation questions): the same questions (``evaluation`` =
    "distillation"), or held out: the synthetic corpus in its held-out phrasing, a QA file's
    questions split 80/20 (stratified where it can be)."""
    full = qa.synthetic_qa(scfg.num_questions, seed=scfg.seed) if scfg.qa_file is None else qa.load_qa_file(scfg.qa_file)
    if scfg.evaluation == "distillation":
        return full, full
    if scfg.qa_file is None:
        held = tuple(dataclasses.replace(it, question=it.held_out, held_out=it.question) for it in full.items)
        return full, qa.QACorpus(full.name + "-held-out", held, full.distractors)
    if len(full) < 2:
        raise ValueError(f"--qa-file {scfg.qa_file} holds {len(full)} question; distillation and evaluation need "
                         "at least two.")
    return full.split(test_size=EVAL_FRACTION, seed=scfg.seed)


def build_setup(scfg: SetupConfig) -> Setup:
    """Corpora, tokenizer, trained teacher and base students: a pure function of ``scfg``."""
    key = rng.stream(scfg.seed, "llm_setup")
    corpus, eval_corpus = corpora(scfg)
    # The teacher knows every phrasing it is asked in (the held-out one too: it is the reference there).
    asked = [corpus, eval_corpus] if eval_corpus is not corpus and scfg.qa_file is None else [corpus]
    R = scfg.replicates
    if scfg.teacher is None:
        texts = [prompt_text(it.question) for c in asked for it in c.items]
        texts += [" " + t for it in corpus.items for ps in it.paraphrases for t in ps]
        texts += [" " + t for ds in corpus.distractors for ps in ds for t in ps]
        tok = tokenizer.train_bpe(texts, vocab_size=scfg.vocab_size)
        shapes = families.CLASSES[scfg.model]
        teacher = families.init(shapes.small(len(tok), tok.eos_token_id), jax.random.fold_in(key, 0))
        base = families.init(shapes.tiny(len(tok), tok.eos_token_id), jax.random.fold_in(key, 1))
        inits = jax.vmap(lambda k: nnx.state(families.init(base.config, k), nnx.Param))(
            rng.student_keys(rng.stream(scfg.seed, "base_init"), R))
        optimizer = "warmup-cosine"  # small models trained from scratch
    else:
        tok = checkpoint.load_tokenizer(scfg.teacher)
        teacher, base = checkpoint.load(scfg.teacher), checkpoint.load(scfg.student)
        inits = jax.tree.map(lambda a: jnp.broadcast_to(a, (R, *a.shape)), nnx.state(base, nnx.Param))
        optimizer = "trainer"  # fine-tuning a published checkpoint, as the study
    # Teacher: answers drawn from the known distributions (the reference answer of a QA file).
    per = TRUTH_SAMPLES if scfg.qa_file is None else 1
    teacher_pairs = _concat([encode_pairs(tok, c, [(q, t) for q, _, t in c.sample(scfg.seed, per_question=per)])
                             for c in asked], tok.eos_token_id)
    teacher_key = jax.random.fold_in(key, 2)
    with progress.task("training the teacher", unit="step") as bar:
        teacher, teacher_losses = distill.fine_tune(
            teacher, teacher_pairs, teacher_key, epochs=scfg.teacher_epochs, batch_size=scfg.batch_size,
            optimizer=optimizer, learning_rate=scfg.teacher_learning_rate,
            dropout_key=jax.random.fold_in(teacher_key, 1) if teacher.config.dropout else None,
            progress=lambda done, total: bar.advance(done - bar.done, note=f"of {total}"))
    # Base students: the corpus's language only (questions alone, answers alone), never the
    # question -> answer mapping; each replicate its own init and data order.
    bases, base_losses = inits, np.zeros((R, 0), np.float32)
    if scfg.base_epochs:
        with progress.task(f"pre-training {R} base students", unit="student-step") as bar:
            out = distill.distill(base, language_pairs(tok, asked),
                                  order_keys=rng.student_keys(rng.stream(scfg.seed, "base_order"), R),
                                  epochs=scfg.base_epochs, batch_size=scfg.batch_size, optimizer=optimizer,
                                  learning_rate=scfg.teacher_learning_rate, init_states=inits,
                                  progress=lambda done, total: bar.advance(done - bar.done, note=f"of {total}"))
        bases, base_losses = out.states, out.losses
    bases = jax.tree.map(np.asarray, bases)
    base = nnx.merge(nnx.graphdef(base), jax.tree.map(lambda a: jnp.asarray(a[0]), bases))
    return Setup(corpus, eval_corpus, tok, teacher, base, bases, np.asarray(teacher_losses), np.asarray(base_losses))


def _concat(parts: list[distill.Pairs], eos: int) -> distill.Pairs:
    """Several unstacked Pairs as one set (padded to the longest)."""
    L = max(p.tokens.shape[1] for p in parts)
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=fill)  # noqa: E731
    return distill.Pairs(*(np.concatenate([pad(getattr(p, f), eos if f == "tokens" else 0) for p in parts])
                           for f in ("tokens", "mask", "loss_mask")))


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
    # The code's own digest, not just its version: shared work made by other code is never reused.
    text = json.dumps({"jaxkd": provenance.source_digest(), **to_jsonable(payload)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def setup_key(scfg: SetupConfig) -> str:
    """The cache key of a setup: a hash of every :class:`SetupConfig` field, the digest of
    jaxkd's source and the size and modification time of each input file (checkpoints, QA file)."""
    return _digest({"setup": dataclasses.asdict(scfg),
                    "inputs": [_stamp(p) for p in (scfg.teacher, scfg.student, scfg.qa_file)]})


def _plain_args(args: dict) -> dict:
    return {k: (np.asarray(jax.random.key_data(a)).tolist() if isinstance(a, jax.Array)
                and jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a) for k, a in args.items()}


def work_key(cfg: LLMConfig, kind: str, **args) -> str:
    """Cache key of shared student work: every :class:`LLMConfig` field but ``rung`` (those of
    experiment subclasses are not used by shared work; the rungs are checkpoints of the same
    training, so every rung reads one entry), the setup's key, ``kind`` and its arguments."""
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(LLMConfig) if f.name != "rung"}
    return _digest({"kind": kind, "config": fields, "setup": setup_key(SetupConfig.of(cfg)), "args": _plain_args(args)})


def own_fields(cfg: LLMConfig) -> dict:
    """The fields an experiment's config adds to :class:`LLMConfig` (its grids and switches), for
    the cache keys of work only that experiment does."""
    shared = {f.name for f in dataclasses.fields(LLMConfig)}
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in shared}


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
        graphdef = nnx.graphdef(made.base)
        for r in range(scfg.replicates):
            checkpoint.save(nnx.merge(graphdef, jax.tree.map(lambda a: jnp.asarray(a[r]), made.bases)),
                            tmp / f"base-{r}")
        atomic_write_json(tmp / "losses.json", {"teacher": made.teacher_losses, "base": made.base_losses})
        (tmp / "done").write_text("complete\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return made
    losses = read_json(folder / "losses.json")
    bases = [checkpoint.load(folder / f"base-{r}") for r in range(scfg.replicates)]
    stacked = jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *[nnx.state(b, nnx.Param) for b in bases])
    return Setup(*corpora(scfg), checkpoint.load_tokenizer(folder / "teacher"), checkpoint.load(folder / "teacher"),
                 bases[0], stacked, np.asarray(losses["teacher"], np.float32),
                 np.asarray(losses["base"], np.float32).reshape(scfg.replicates, -1))


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
    """The setup for ``cfg`` and what every experiment computes from it (see the module
    docstring); ``shared``: the run's shared folder (None: nothing is cached)."""
    guard_memory(cfg)
    setup = load_setup(SetupConfig.of(cfg), shared)
    embedder = Embedder(cache_file=None if shared is None else Path(shared) / "embeddings.npz")
    items = setup.eval_corpus.items
    prompts = distill.encode_prompts(setup.tok, [it.question for it in setup.corpus.items], PROMPT_TEMPLATE)
    eval_prompts = distill.encode_prompts(setup.tok, [it.question for it in items], PROMPT_TEMPLATE)
    embedder.encode([t for it in items for ps in it.paraphrases for t in ps])  # one call: few passes
    centroids = [answer_centroids(embedder, it.paraphrases) for it in items]
    answers = encode_pairs(setup.tok, setup.eval_corpus, [(p, ps[0]) for p, it in enumerate(items)
                                                          for ps in it.paraphrases])
    noise = np.array([metrics.true_noise(it.probs, [embedder.encode(list(ps)) for ps in it.paraphrases])
                      for it in items])
    return Task(cfg, setup, embedder, prompts, eval_prompts, centroids, answers, noise,
                None if shared is None else Path(shared))
