"""The language-model distillation study shared by the ``llm-*`` experiments.

quick preset (CPU, offline): the bundled synthetic QA corpus (100 questions whose answer
distributions are known), a byte-level BPE trained on it, a small GPT-2 teacher trained from
scratch on answers drawn from those distributions, and a tiny GPT-2 *base* student pre-trained
on the corpus's language only: questions alone and answers alone, never a question followed by
its answer, so the question -> answer mapping is learnt from distillation alone, which at the
quick preset is at most 5 passes over each student's distillation set (a weak signal, as
fine-tuning a pre-trained student for 3 epochs is). paper preset: ``--teacher`` and
``--student`` Hugging Face checkpoint folders (GPT-2 / DistilGPT2) and a BioASQ (or plain QA
JSON) file; the teacher is fine-tuned on it, the student is used as published.

Every number a verdict reads comes from ``replicates`` independent replicates (their own
teacher draws, perturbation keys or data orders, as each experiment's protocol says), each of
``num_students`` students; all R x N students are distilled in one vmapped call. Per replicate
:func:`measure` gives the floor-corrected between-student variance (S.1), measures without a
sampling floor (disagreement of greedy answers; spread across students of the teacher-forced
log-probability of every valid answer), the exact distribution measures (S.2) and the study's
embedding measures. :func:`mean_interval` turns replicates into a 95% interval.

Prompts are ``"Q: {question}\\nA:"``; an answer is ``" {text}"`` followed by end-of-text, and
only answer tokens are scored in training. Everything model-side goes through the
study-independent :mod:`jaxkd.llm.distill`.

Shared work is explicit: the setup (corpus, tokenizer, teacher, base student) is a pure
function of a :class:`SetupConfig`, cached in the run's ``shared`` folder under a hash of that
whole config; distillations other experiments reuse (the direct fine-tune, the teacher-noise
runs) are cached there under a hash of every :class:`LLMConfig` field and their arguments.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxkd import _validation as v
from jaxkd import document as doc
from jaxkd import rng
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import qa, qa_concepts
from jaxkd.experiments import protocol
from jaxkd.formatting import fmt
from jaxkd.llm import GPT2Config, checkpoint, distill, sampling, tokenizer, training
from jaxkd.llm import metrics as tm
from jaxkd.llm.model import init as init_gpt2
from jaxkd.runs import atomic_write_json, read_json, to_jsonable


# The paper preset of every llm-* experiment (Hugging Face checkpoints fine-tuned at lr 5e-5,
# 3 epochs at batch 10, as the study).
PAPER = {"num_students": 10, "replicates": 3, "teacher_steps": 1000, "base_steps": 0, "epochs": 3,
         "batch_size": 10, "learning_rate": 5e-5, "max_new_tokens": 64}


@dataclasses.dataclass(frozen=True)
class LLMConfig(Presets):
    """Fields shared by the llm-* experiments (quick defaults; ``PRESETS`` the paper's)."""

    MODELS: ClassVar[tuple[str, ...]] = ("gpt2",)
    PRESETS: ClassVar[dict] = {("paper", "*"): PAPER}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("gpt2", "student model class")
    num_students: int = option(3, "students per replicate N", flag="--students")
    replicates: int = option(3, "independent replicates R behind every interval (at least 2)")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    num_questions: int = option(100, "questions in the synthetic QA corpus (quick preset)")
    vocab_size: int = option(512, "BPE vocabulary trained on the corpus (quick preset)")
    teacher_steps: int = option(1000, "teacher training (fine-tuning) steps")
    base_steps: int = option(600, "base student pre-training steps on the corpus's language, never on "
                             "question -> answer pairs (quick preset; 0 at paper: the checkpoint as published)")
    epochs: int = option(5, "passes over each student's distillation set (the study: 3)")
    batch_size: int = option(10, "training batch size")
    learning_rate: float = option(3e-3, "AdamW peak learning rate")
    samples: int = option(8, "sampled answers per prompt to measure a student")
    teacher_samples: int = option(16, "sampled answers per prompt to measure the teacher")
    max_new_tokens: int = option(16, "longest sampled answer, in tokens")
    top_k: int = option(50, "top-k sampling (0 keeps all tokens)")
    repetition_penalty: float = option(1.2, "repetition penalty (1 = off)")
    teacher: str | None = option(None, "paper preset: teacher Hugging Face checkpoint folder (GPT-2)")
    student: str | None = option(None, "paper preset: student Hugging Face checkpoint folder (DistilGPT2)")
    qa_file: str | None = option(None, "paper preset: BioASQ JSON or [{question, answer}] JSON")

    def __post_init__(self):
        v.check_choice("model for llm experiments", self.model, self.MODELS)
        for name in ("num_students", "replicates", "num_questions", "vocab_size", "teacher_steps", "epochs",
                     "batch_size", "samples", "teacher_samples", "max_new_tokens"):
            minimum = 2 if name in ("num_students", "replicates", "samples", "teacher_samples") else 1
            v.check_int(name.replace("_", " "), getattr(self, name), minimum=minimum)
        v.check_int("base steps", self.base_steps, minimum=0)
        v.check_int("seed", self.seed, minimum=0)
        v.check_positive("learning rate", self.learning_rate)
        sampling.SamplingConfig(self.max_new_tokens, 1.0, self.top_k, self.repetition_penalty)
        paths = (self.teacher, self.student, self.qa_file)
        if self.preset == "paper" and None in paths:
            raise ValueError("--preset paper needs --teacher and --student Hugging Face checkpoint "
                             "folders and --qa-file (BioASQ or [{question, answer}] JSON).")
        for name, p in zip(("teacher", "student", "qa file"), paths):
            if p is not None and not Path(p).exists():
                raise ValueError(f"{name} path {p} does not exist.")
        if self.student is not None and self.base_steps:
            raise ValueError("--base-steps pre-trains the quick preset's base student; with --student the "
                             "checkpoint is used as published (give --base-steps 0).")

    def sampling(self, temperature: float) -> sampling.SamplingConfig:
        return sampling.SamplingConfig(self.max_new_tokens, temperature, self.top_k, self.repetition_penalty)

    @property
    def greedy(self) -> sampling.SamplingConfig:
        """Top-1 decoding (the study's alignment), with the same length and repetition penalty."""
        return sampling.SamplingConfig(self.max_new_tokens, 0.0, 0, self.repetition_penalty)

    @property
    def total_students(self) -> int:
        return self.num_students * self.replicates

    def steps(self, pairs: int, passes: int | None = None) -> int:
        """Optimisation steps for ``passes`` (default ``epochs``) over ``pairs`` training pairs."""
        return max(1, math.ceil((self.epochs if passes is None else passes) * pairs / self.batch_size))


@dataclasses.dataclass(frozen=True)
class SetupConfig:
    """What the shared setup (corpus, tokenizer, teacher, base student) depends on: the fields
    of the same names in :class:`LLMConfig`. :func:`build_setup` sees nothing else, and the
    cache key hashes all of it, so a field added here is part of the key."""

    seed: int
    num_questions: int
    vocab_size: int
    teacher_steps: int
    base_steps: int
    batch_size: int
    learning_rate: float
    teacher: str | None
    student: str | None
    qa_file: str | None

    @classmethod
    def of(cls, cfg: "LLMConfig") -> "SetupConfig":
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class Setup:
    """The shared setup: QA corpus, tokenizer, trained teacher and base student."""

    corpus: qa.QACorpus
    tok: object
    teacher: object
    base: object


@dataclasses.dataclass
class Task:
    """Everything the experiments share: corpus, tokenizer, teacher, base student, embedder, the
    encoded prompts, each prompt's valid-answer centroids, and one scoring sequence per valid
    answer (its first paraphrase) for the teacher-forced log-probabilities."""

    cfg: LLMConfig
    corpus: qa.QACorpus
    tok: object
    teacher: object
    base: object
    embedder: object
    prompts: list[list[int]]
    centroids: list[np.ndarray]       # per prompt: (K, 384) valid-answer centroids
    answers: distill.Pairs            # (A, L): every prompt's valid answers, prompt by prompt
    shared: Path | None = None        # the run's shared folder (None: nothing is cached)

    @property
    def eos(self) -> int:
        return self.tok.eos_token_id


PROMPT_TEMPLATE = "Q: {prompt}\nA:"


def prompt_text(question: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=question)


def encode_pairs(task_or_tok, corpus: qa.QACorpus, pairs) -> distill.Pairs:
    """(prompt index, answer text) pairs -> right-padded training sequences (M, L)."""
    tok = getattr(task_or_tok, "tok", task_or_tok)
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


def _train_single(model, data: distill.Pairs, steps, batch, lr, key):
    trainer = training.Trainer(model, training.TrainConfig(learning_rate=lr, total_steps=steps,
                                                           warmup_steps=min(20, steps // 5)))
    idx = np.asarray(jax.random.randint(key, (steps, batch), 0, data.num_pairs))
    for b in idx:
        trainer.step(data.tokens[b], data.mask[b], data.loss_mask[b])
    return trainer.model()


def embed(task: Task, texts) -> np.ndarray:
    """Embeddings of nested lists of strings, shaped like the nesting plus (384,)."""
    return distill.embed_texts(task.embedder, texts)


def warm_embeddings(task: Task, *nested) -> None:
    """Embed every text of several nested lists in one call, so the embedder runs one set of
    fixed-shape passes per token length instead of one per list (the values are the same: an
    embedding does not depend on the texts batched with it)."""
    flat = [t for n in nested for t in np.asarray(n, dtype=object).ravel().tolist()]
    if flat:
        task.embedder.encode([t if t else "(empty)" for t in flat])


# Shared work, cached on disk in the run's shared folder under a hash of everything it depends on.

def _stamp(path) -> list:
    """What identifies an input file or folder's content cheaply: names, sizes, mtimes."""
    if path is None:
        return []
    path = Path(path)
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [[str(f.relative_to(path) if path.is_dir() else f.name), f.stat().st_size, f.stat().st_mtime_ns]
            for f in files if f.is_file()]


def _digest(payload: dict) -> str:
    import hashlib

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


def work_key(cfg: "LLMConfig", kind: str, **args) -> str:
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
        (tmp / "done").write_text("complete\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return made
    return Setup(_corpus(scfg), checkpoint.load_tokenizer(folder / "teacher"),
                 checkpoint.load(folder / "teacher"), checkpoint.load(folder / "base"))


def cached(task: Task, key: str, compute):
    """``compute()`` (JSON-able), stored as ``shared/work-<key>.json`` for later runs."""
    if task.shared is None:
        return to_jsonable(compute())
    path = task.shared / f"work-{key}.json"
    if path.is_file():
        return read_json(path)
    value = compute()
    atomic_write_json(path, value)
    return read_json(path)  # the same value whether computed now or read later


def build_task(cfg: LLMConfig, shared=None) -> Task:
    """Corpus, tokenizer, teacher and base student for ``cfg`` (see the module docstring);
    ``shared``: the run's shared folder (None: nothing is cached)."""
    from jaxkd.llm.embeddings import Embedder, answer_centroids

    guard_memory(cfg)
    setup = load_setup(SetupConfig.of(cfg), shared)
    embedder = Embedder(cache_file=None if shared is None else Path(shared) / "embeddings.npz")
    prompts = distill.encode_prompts(setup.tok, [it.question for it in setup.corpus.items], PROMPT_TEMPLATE)
    embedder.encode([t for it in setup.corpus.items for ps in it.paraphrases for t in ps])  # one call: few passes
    centroids = [answer_centroids(embedder, it.paraphrases) for it in setup.corpus.items]
    answers = encode_pairs(setup.tok, setup.corpus, [(p, ps[0]) for p, it in enumerate(setup.corpus.items)
                                                      for ps in it.paraphrases])
    return Task(cfg, setup.corpus, setup.tok, setup.teacher, setup.base, embedder, prompts, centroids, answers,
                None if shared is None else Path(shared))


def guard_memory(cfg: LLMConfig) -> None:
    """Refuse, before the setup trains anything, a number of students whose distillation or
    sampling cannot fit (``ValueError``: the estimate, the memory, what to change). The exact
    sizes are checked again by :mod:`jaxkd.llm.distill` before it allocates."""
    from flax import nnx

    from jaxkd.llm.model import GPT2

    shape = GPT2Config.from_hf(cfg.student) if cfg.student else GPT2Config.tiny(cfg.vocab_size)
    model = nnx.eval_shape(lambda: GPT2(shape, rngs=nnx.Rngs(0)))
    length = min(shape.n_positions, 32 + cfg.max_new_tokens)  # a nominal prompt plus an answer
    n = cfg.total_students
    distill.check_memory(distill.training_bytes(model, n, cfg.batch_size, length),
                         f"distilling {n:,} GPT-2 students ({cfg.replicates} replicates x {cfg.num_students:,})", n)
    questions = cfg.num_questions if cfg.qa_file is None else len(_load_qa(cfg.qa_file))
    sequences = questions * cfg.samples
    distill.check_memory(distill.sampling_bytes(model, n, sequences, length), f"sampling {n:,} GPT-2 students", n)


def _corpus(scfg: SetupConfig) -> qa.QACorpus:
    if scfg.qa_file is None:
        return qa.synthetic_qa(scfg.num_questions, seed=scfg.seed)
    return _load_qa(scfg.qa_file)


def build_setup(scfg: SetupConfig) -> Setup:
    """Corpus, tokenizer, trained teacher and base student: a pure function of ``scfg``."""
    key = rng.stream(scfg.seed, "llm_setup")
    corpus = _corpus(scfg)
    if scfg.teacher is None:
        texts = [prompt_text(it.question) for it in corpus.items]
        texts += [" " + t for it in corpus.items for ps in it.paraphrases for t in ps]
        texts += [" " + t for ds in corpus.distractors for ps in ds for t in ps]
        tok = tokenizer.train_bpe(texts, vocab_size=scfg.vocab_size)
        teacher = init_gpt2(GPT2Config.small(len(tok), tok.eos_token_id), jax.random.fold_in(key, 0))
        base = init_gpt2(GPT2Config.tiny(len(tok), tok.eos_token_id), jax.random.fold_in(key, 1))
    else:
        tok = checkpoint.load_tokenizer(scfg.teacher)
        teacher, base = checkpoint.load(scfg.teacher), checkpoint.load(scfg.student)
    # Teacher: answers drawn from the known distributions. Base student: the corpus's language
    # only (questions alone, answers alone), never the question -> answer mapping.
    truth = [(q, t) for q, _, t in corpus.sample(scfg.seed, per_question=32)]
    teacher = _train_single(teacher, encode_pairs(tok, corpus, truth), scfg.teacher_steps, scfg.batch_size,
                            scfg.learning_rate, jax.random.fold_in(key, 2))
    if scfg.base_steps:
        base = _train_single(base, language_pairs(tok, corpus), scfg.base_steps, scfg.batch_size,
                             scfg.learning_rate, jax.random.fold_in(key, 3))
    return Setup(corpus, tok, teacher, base)


def _load_qa(path) -> qa.QACorpus:
    data = json.loads(Path(path).read_text()) if Path(path).is_file() else None
    return qa.load_bioasq(path) if isinstance(data, dict) else qa.load_qa_json(path)


# --- distilling R x N students and what they produce ------------------------------------------


def teacher_draws(task: Task, key, k: int, temperature: float) -> list[list[list[str]]]:
    """k teacher answers per prompt for each of the R x N students, each student its own draws
    (student j's from ``fold_in(key, j)``): (R*N) x P x k strings."""
    return distill.teacher_responses(task.teacher, task.tok, task.prompts, k, key, task.cfg.sampling(temperature),
                                     students=task.cfg.total_students)


def greedy_answers(task: Task) -> list[str]:
    """The teacher's top-1 answer per prompt (P strings)."""
    return [a[0] for a in distill.generate_texts(task.teacher, task.tok, task.prompts, 1, jax.random.key(0),
                                                 task.cfg.greedy)]


def distil_students(task: Task, pairs, *, steps: int, order, init_states=None, soft: bool = False,
                    track=None) -> distill.Students:
    """Distil the R x N students at once from the base student (or ``init_states``).

    Args:
      pairs: one list of (prompt index, text) per student (each student its own set, all the
        same length), or one list shared by all.
      order: (R*N,) data-order keys.
    """
    cfg = task.cfg
    if pairs and isinstance(pairs[0], list):
        data = distill.stack_pairs([encode_pairs(task, task.corpus, p) for p in pairs], task.eos)
    else:
        data = encode_pairs(task, task.corpus, pairs)
    train = training.TrainConfig(learning_rate=cfg.learning_rate, total_steps=steps,
                                 warmup_steps=min(20, steps // 5), kd_weight=1.0 if soft else 0.0)
    return distill.distil(task.base, data, order, train, batch_size=cfg.batch_size,
                          teacher=task.teacher if soft else None, init_states=init_states, track=track)


def outputs(task: Task, students: distill.Students, key, temperatures=(1.0,)) -> dict:
    """What the students produce, JSON-able: each student's greedy answer per prompt
    (``greedy``: S x P), ``samples`` per sampling temperature (``{str(T)}: S x P x n``), the
    per-token teacher-forced log-probability of every valid answer (``logprob``: S x A), and
    the ``compute`` of their training."""
    cfg = task.cfg
    return {
        "greedy": [[a[0] for a in s] for s in distill.student_responses(students, task.tok, task.prompts, 1,
                                                                        jax.random.key(0), cfg.greedy)],
        "samples": {str(float(T)): distill.student_responses(students, task.tok, task.prompts, cfg.samples,
                                                             jax.random.fold_in(key, i), cfg.sampling(T))
                    for i, T in enumerate(temperatures)},
        "logprob": distill.student_logprobs(students, task.answers).tolist(),
        "compute": students.compute,
    }


def teacher_reference(task: Task, temperature: float) -> dict:
    """The teacher's greedy answers (P) and ``teacher_samples`` answers per prompt at
    ``temperature`` (P x n), cached in the shared folder."""
    cfg = task.cfg
    key = rng.point_key(rng.stream(cfg.seed, "teacher_eval"), int(round(1000 * temperature)))
    return cached(task, work_key(cfg, "teacher", temperature=float(temperature)), lambda: {
        "greedy": greedy_answers(task),
        "samples": distill.generate_texts(task.teacher, task.tok, task.prompts, cfg.teacher_samples, key,
                                          cfg.sampling(temperature))})


def direct_reference(task: Task) -> dict:
    """R x N copies of the base student fine-tuned directly on one reference answer per prompt
    (the most probable valid answer's first paraphrase; BioASQ's ideal answer), for the
    distillation's number of steps: the reference of systematic noise. Cached."""
    cfg = task.cfg

    def compute():
        reference = [(p, it.paraphrases[int(np.argmax(it.probs))][0]) for p, it in enumerate(task.corpus.items)]
        order = rng.student_keys(rng.stream(cfg.seed, "data_order"), cfg.total_students)
        students = distil_students(task, reference, steps=cfg.steps(len(reference)), order=order)
        return outputs(task, students, rng.stream(cfg.seed, "direct_sampling"))

    return cached(task, work_key(cfg, "direct"), compute)


# --- measures ---------------------------------------------------------------------------------


MEASURES = ("alignment", "greedy_disagreement", "logprob_spread", "inter_student_variance",
            "inter_student_variance_floor", "inter_student_variance_corrected", "intra_variance_gap",
            "teacher_noise", "student_noise", "noise_slope", "noise_r2", "variance_share",
            "total_variation", "teacher_total_variation", "entropy_gap", "teacher_entropy_gap",
            "centroid_cosine", "teacher_centroid_cosine", "student_entropy", "teacher_entropy",
            "narrower_share", "gt_similarity", "teacher_gt_similarity", "hallucination", "teacher_hallucination")

def _labels(task: Task, embs) -> list[np.ndarray]:
    return [tm.classify(embs[p], task.centroids[p], qa_concepts.HALLUCINATION_THRESHOLD) for p in range(embs.shape[0])]


def describe(task: Task, embs) -> dict:
    """One model's samples (P, n, E): per prompt noise, hallucination share, answer entropy,
    cosine to the nearest valid answer, and the exact measures against the truth (S.2)."""
    P = embs.shape[0]
    labels = _labels(task, embs)
    exact = [tm.distribution_measures(tm.answer_distribution(l, len(task.centroids[p])),
                                      task.corpus.items[p].probs, task.centroids[p]) for p, l in enumerate(labels)]
    return {
        "noise": tm.pairwise_cosine_distance(embs),
        "variance": tm.intra_model_variance(embs),
        "hallucination": np.array([np.mean(l < 0) for l in labels]),
        "entropy": np.array([tm.answer_entropy(l, len(task.centroids[p])) for p, l in enumerate(labels)]),
        "gt_similarity": np.array([tm.ground_truth_similarity(embs[p], task.centroids[p]) for p in range(P)]),
        **{k: np.array([e[k] for e in exact]) for k in ("total_variation", "entropy_gap", "centroid_cosine")},
    }


def measure(task: Task, out: dict, teacher: dict, temperature: float = 1.0, direct: dict | None = None) -> dict:
    """Every measure of :data:`MEASURES`, one value per replicate (lists of R), for the outputs
    of R x N students (:func:`outputs`, student j in replicate j // N) against the teacher's
    (:func:`teacher_reference`); with ``direct`` (:func:`direct_reference`) also
    ``systematic_noise``: the students' per-prompt noise minus that of the direct fine-tune's
    students of the same replicate, averaged.
    Per-prompt noise of teacher and students (mean over replicates) comes back as
    ``prompt_teacher_noise`` / ``prompt_student_noise``."""
    cfg = task.cfg
    R, N = cfg.replicates, cfg.num_students
    warm_embeddings(task, out["samples"][str(float(temperature))], out["greedy"], teacher["greedy"],
                    teacher["samples"], direct["samples"]["1.0"] if direct is not None else [])
    samples = embed(task, out["samples"][str(float(temperature))])          # (R*N, P, n, E)
    greedy = embed(task, out["greedy"])                                       # (R*N, P, E)
    t_greedy = embed(task, teacher["greedy"])                                 # (P, E)
    t_samples = embed(task, teacher["samples"])                              # (P, nt, E)
    logprob = np.asarray(out["logprob"], float)                               # (R*N, A)
    t = describe(task, t_samples)
    per = [describe(task, e) for e in samples]
    d_noise = None
    if direct is not None:  # per student of the direct fine-tune, paired with replicate r's students
        d_noise = [describe(task, e)["noise"] for e in embed(task, direct["samples"]["1.0"])]
    rows = {name: [] for name in MEASURES + (("systematic_noise",) if direct is not None else ())}
    s_noise_all = []
    for r in range(R):
        group = range(r * N, (r + 1) * N)
        base = distill.measure(samples[r * N:(r + 1) * N], t_samples)
        s_noise = np.mean([per[j]["noise"] for j in group], axis=0)
        s_var = np.mean([per[j]["variance"] for j in group], axis=0)
        s_noise_all.append(s_noise)
        mean = lambda k: float(np.mean([per[j][k].mean() for j in group]))  # noqa: E731
        values = {
            **{k: base[k] for k in ("inter_student_variance", "inter_student_variance_floor",
                                    "inter_student_variance_corrected", "intra_variance_gap",
                                    "teacher_noise", "student_noise", "noise_slope", "noise_r2")},
            "alignment": float(np.einsum("npe,pe->np", greedy[r * N:(r + 1) * N], t_greedy).mean()),
            "greedy_disagreement": greedy_disagreement(out["greedy"][r * N:(r + 1) * N], greedy[r * N:(r + 1) * N]),
            "logprob_spread": float(np.var(logprob[r * N:(r + 1) * N], axis=0, ddof=1).mean()),
            "variance_share": float(np.mean(t["variance"] >= s_var)),
            "total_variation": mean("total_variation"), "teacher_total_variation": float(t["total_variation"].mean()),
            "entropy_gap": mean("entropy_gap"), "teacher_entropy_gap": float(t["entropy_gap"].mean()),
            "centroid_cosine": mean("centroid_cosine"), "teacher_centroid_cosine": float(t["centroid_cosine"].mean()),
            "student_entropy": mean("entropy"), "teacher_entropy": float(t["entropy"].mean()),
            "narrower_share": tm.narrower_share(np.mean([per[j]["entropy"] for j in group], axis=0), t["entropy"]),
            "gt_similarity": mean("gt_similarity"), "teacher_gt_similarity": float(t["gt_similarity"].mean()),
            "hallucination": mean("hallucination"), "teacher_hallucination": float(t["hallucination"].mean()),
        }
        if d_noise is not None:
            values["systematic_noise"] = tm.systematic_noise(s_noise, np.mean([d_noise[j] for j in group], axis=0))
        for k in rows:
            rows[k].append(float(values[k]))
    rows["prompt_teacher_noise"] = t["noise"].tolist()
    rows["prompt_student_noise"] = np.mean(s_noise_all, axis=0).tolist()
    return rows


def greedy_disagreement(texts, embs) -> float:
    """Mean over prompts of the mean pairwise cosine distance between N students' greedy
    answers; identical answers count exactly 0 (no float rounding), so identical students give
    0: texts N x P strings, embs (N, P, E)."""
    N, P = len(texts), len(texts[0])
    total = 0.0
    for i in range(N):
        for j in range(i + 1, N):
            cos = np.einsum("pe,pe->p", embs[i], embs[j])
            same = np.array([texts[i][p] == texts[j][p] for p in range(P)])
            total += float(np.where(same, 0.0, 1.0 - cos).mean())
    return total / (N * (N - 1) / 2)


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of independent replicates and its ``level`` t-interval: (mean, low, high)."""
    x = np.asarray(values, float)
    m = float(x.mean())
    if x.size < 2:
        raise ValueError("an interval needs at least two replicates.")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def span(m, lo, hi, digits: int = 4) -> str:
    """``m [lo, hi]``: an estimate and its interval, as reports and evidence write them."""
    return f"{fmt(m, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def cell(values, digits: int = 3) -> str:
    """``mean [low, high]`` of replicates, for tables."""
    return span(*mean_interval(values), digits=digits)


def paper(**extra) -> dict:
    """An llm-* experiment's PRESETS: the shared paper values plus its own."""
    return {("paper", "*"): {**PAPER, **extra}}


@dataclasses.dataclass(frozen=True)
class TemperatureConfig(LLMConfig):
    """An llm-* config with a teacher-temperature grid."""

    PRESETS: ClassVar[dict] = paper(temperatures=(0.5, 0.8, 1.0, 1.2, 1.5, 2.0))

    temperatures: tuple[float, ...] = option((0.5, 1.0, 1.5, 2.0), "teacher sampling temperatures")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "temperatures", v.check_grid("temperatures", self.temperatures, v.check_positive))


@dataclasses.dataclass(frozen=True)
class SweepResults(protocol.Results):
    """Results of an llm-* sweep: every measure of :data:`MEASURES` per grid point and
    replicate (grid points x R), and per-prompt noise per grid point (grid points x P)."""

    alignment: tuple[tuple[float, ...], ...]
    greedy_disagreement: tuple[tuple[float, ...], ...]
    logprob_spread: tuple[tuple[float, ...], ...]
    inter_student_variance: tuple[tuple[float, ...], ...]
    inter_student_variance_floor: tuple[tuple[float, ...], ...]
    inter_student_variance_corrected: tuple[tuple[float, ...], ...]
    intra_variance_gap: tuple[tuple[float, ...], ...]
    teacher_noise: tuple[tuple[float, ...], ...]
    student_noise: tuple[tuple[float, ...], ...]
    noise_slope: tuple[tuple[float, ...], ...]
    noise_r2: tuple[tuple[float, ...], ...]
    variance_share: tuple[tuple[float, ...], ...]
    total_variation: tuple[tuple[float, ...], ...]
    teacher_total_variation: tuple[tuple[float, ...], ...]
    entropy_gap: tuple[tuple[float, ...], ...]
    teacher_entropy_gap: tuple[tuple[float, ...], ...]
    centroid_cosine: tuple[tuple[float, ...], ...]
    teacher_centroid_cosine: tuple[tuple[float, ...], ...]
    student_entropy: tuple[tuple[float, ...], ...]
    teacher_entropy: tuple[tuple[float, ...], ...]
    narrower_share: tuple[tuple[float, ...], ...]
    gt_similarity: tuple[tuple[float, ...], ...]
    teacher_gt_similarity: tuple[tuple[float, ...], ...]
    hallucination: tuple[tuple[float, ...], ...]
    teacher_hallucination: tuple[tuple[float, ...], ...]
    prompt_teacher_noise: tuple[tuple[float, ...], ...]
    prompt_student_noise: tuple[tuple[float, ...], ...]
    passes: tuple[float, ...]          # passes over each student's distillation set, per point
    steps: tuple[int, ...]             # optimisation steps per point

    def means(self, name: str) -> np.ndarray:
        """Replicate means of a measure per grid point."""
        return np.array([np.mean(r) for r in getattr(self, name)])

    def intervals(self, name: str) -> np.ndarray:
        """(grid points, 3): mean, low, high of a measure's 95% interval."""
        return np.array([mean_interval(r) for r in getattr(self, name)])


def errorbar(ax, x, res: SweepResults, name: str, fmt: str = "o-", **kw):
    """Plot a measure's replicate means with their 95% intervals (any field holding one tuple of
    replicate values per grid point)."""
    m = res.intervals(name)
    ax.errorbar(x, m[:, 0], yerr=[m[:, 0] - m[:, 1], m[:, 2] - m[:, 0]], fmt=fmt, capsize=3, **kw)


def table(res: SweepResults, grid_label: str, grid, names, headers) -> doc.Table:
    """A table of measures (mean [95% interval]) per grid point."""
    return doc.Table([grid_label, *headers], [[g, *(cell(getattr(res, n)[i]) for n in names)]
                                              for i, g in enumerate(grid)])


# --- report ----------------------------------------------------------------------------------


LLM_NOTE = ("Students are GPT-2s distilled from a GPT-2 teacher's answers; answers are embedded with "
            "all-MiniLM-L6-v2. Every cell is the mean over independent replicates with its 95% "
            "t-interval in brackets; the teacher's columns come from one set of teacher samples shared "
            "by the replicates, hence their zero-width brackets. Alignment: cosine of greedy answers (student vs teacher). Noise = "
            "mean pairwise cosine distance of a model's sampled answers per prompt; hallucination = an "
            "answer whose nearest valid answer has cosine < 0.75; entropy and total variation are over "
            "the corpus's known valid answers plus 'hallucination' (S.2). The uncorrected between-"
            "student variance has a sampling floor (S.1); the corrected value, greedy disagreement and "
            "log-prob spread have none.")


def llm_section(title: str, cfg, blocks, passes=None, steps=None) -> doc.Section:
    """An llm-* report: its title, then the paragraph every one starts with (sizes, passes over
    the distillation set and what the measures mean), then ``blocks``."""
    train = f"{cfg.epochs} passes over each student's distillation set" if passes is None else passes
    return doc.Section(title, [doc.Paragraph(
        f"{cfg.replicates} replicates x {cfg.num_students} students, "
        f"{len_questions(cfg)} questions, {cfg.samples} samples per prompt per student "
        f"({cfg.teacher_samples} for the teacher), {train}"
        f"{'' if steps is None else f' ({steps} steps at batch {cfg.batch_size})'}, preset {cfg.preset}. "
        f"{LLM_NOTE}"), *blocks])


def len_questions(cfg) -> int:
    return cfg.num_questions if cfg.qa_file is None else len(_load_qa(cfg.qa_file))
