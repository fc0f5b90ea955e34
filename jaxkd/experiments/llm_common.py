"""The language-model distillation pipeline shared by the ``llm-*`` experiments.

quick preset (CPU, offline): the bundled synthetic QA corpus, a byte-level BPE trained on it,
a small GPT-2 teacher trained from scratch on answers drawn from the known distributions, and
a tiny GPT-2 "base" student briefly trained on ground-truth answers (standing in for a
pre-trained DistilGPT2). paper preset: ``--teacher`` and ``--student`` Hugging Face checkpoint
folders (GPT-2 / DistilGPT2) and a BioASQ (or plain QA JSON) file; the teacher is fine-tuned on
it first. Students are N copies of the base student distilled at once (vmapped), each with its
own data-order key.

Prompts are ``"Q: {question}\\nA:"``; an answer is ``" {text}"`` followed by end-of-text, and
only answer tokens are scored in training. Everything model-side goes through the
study-independent :mod:`jaxkd.llm.distill`; this module adds the study's corpus, setup and
measures.

Shared work is explicit: the setup (corpus, tokenizer, trained teacher, base student) is a pure
function of a :class:`SetupConfig` and is cached in the run's ``shared`` folder under a hash
of that whole config; the direct-fine-tune reference and single-response distillations are
cached there too, under a hash of every :class:`LLMConfig` field and their keys. ``jaxkd
reproduce`` gives all its steps one shared folder, so they train the teacher once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxkd import _validation as v
from jaxkd import rng
from jaxkd.config import NO_FLAG, Presets, option
from jaxkd.data import qa, qa_concepts
from jaxkd.experiments import common
from jaxkd.llm import GPT2Config, checkpoint, distill, sampling, tokenizer, training
from jaxkd.llm import metrics as tm
from jaxkd.llm.model import init as init_gpt2
from jaxkd.runs import atomic_write_json, read_json, to_jsonable


# The paper preset of every llm-* experiment (Hugging Face checkpoints fine-tuned at lr 5e-5).
PAPER = {"num_students": 10, "teacher_steps": 1000, "base_steps": 0, "student_steps": 500,
         "batch_size": 8, "learning_rate": 5e-5, "max_new_tokens": 64}


@dataclasses.dataclass(frozen=True)
class LLMConfig(Presets):
    """Fields shared by the llm-* experiments (quick defaults; ``PRESETS`` the paper's)."""

    MODELS: ClassVar[tuple[str, ...]] = ("gpt2",)
    PRESETS: ClassVar[dict] = {("paper", "*"): PAPER}

    preset: str = option("quick", "preset these values came from", flag=NO_FLAG)
    model: str = option("gpt2", "student model class")
    num_students: int = option(4, "number of students N", flag="--students")
    seed: int = option(0, "root seed: every source of randomness is a named stream under it")
    num_questions: int = option(20, "questions in the synthetic QA corpus (quick preset)")
    vocab_size: int = option(512, "BPE vocabulary trained on the corpus (quick preset)")
    teacher_steps: int = option(400, "teacher training (fine-tuning) steps")
    base_steps: int = option(60, "base student pre-training steps on ground-truth answers (quick preset)")
    student_steps: int = option(300, "distillation steps per student")
    batch_size: int = option(16, "training batch size")
    learning_rate: float = option(3e-3, "AdamW peak learning rate")
    samples: int = option(10, "sampled answers per prompt to measure a model")
    max_new_tokens: int = option(16, "longest sampled answer, in tokens")
    top_k: int = option(50, "top-k sampling (0 keeps all tokens)")
    repetition_penalty: float = option(1.2, "repetition penalty (1 = off)")
    teacher: str | None = option(None, "paper preset: teacher Hugging Face checkpoint folder (GPT-2)")
    student: str | None = option(None, "paper preset: student Hugging Face checkpoint folder (DistilGPT2)")
    qa_file: str | None = option(None, "paper preset: BioASQ JSON or [{question, answer}] JSON")

    def __post_init__(self):
        v.check_choice("model for llm experiments", self.model, self.MODELS)
        for name in ("num_students", "num_questions", "vocab_size", "teacher_steps", "student_steps",
                     "batch_size", "samples", "max_new_tokens"):
            v.check_int(name.replace("_", " "), getattr(self, name), minimum=2 if name in ("num_students", "samples") else 1)
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

    def sampling(self, temperature: float) -> sampling.SamplingConfig:
        return sampling.SamplingConfig(self.max_new_tokens, temperature, self.top_k, self.repetition_penalty)


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
    """Everything the experiments share: corpus, tokenizer, teacher, base student, embedder."""

    cfg: LLMConfig
    corpus: qa.QACorpus
    tok: object
    teacher: object
    base: object
    embedder: object
    prompts: list[list[int]]
    centroids: list[np.ndarray]       # per prompt: (K, 384) valid-answer centroids
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


def _train_single(model, data: distill.Pairs, steps, batch, lr, key):
    trainer = training.Trainer(model, training.TrainConfig(learning_rate=lr, total_steps=steps,
                                                           warmup_steps=min(20, steps // 5)))
    idx = np.asarray(jax.random.randint(key, (steps, batch), 0, data.num_pairs))
    for b in idx:
        trainer.step(data.tokens[b], data.mask[b], data.loss_mask[b])
    return trainer.model()


def train_students(task: Task, pairs, keys, *, steps=None, init_states=None, soft_targets=False,
                   track=None) -> distill.Students:
    """Distil N students (one per order key) from the base student on ``pairs``, at once
    (:func:`jaxkd.llm.distill.distil` with the config's optimisation settings).

    Args:
      pairs: training pairs (prompt index, text), shared by all students.
      keys: (N,) data-order keys.
      init_states: optional stacked initial states (default: N copies of the base student).
      soft_targets: also fit the teacher's next-token distribution (token-level soft targets).
      track: optional callable ``(step, stacked_state)`` called after every step.
    """
    cfg = task.cfg
    steps = steps or cfg.student_steps
    train = training.TrainConfig(learning_rate=cfg.learning_rate, total_steps=steps,
                                 warmup_steps=min(20, steps // 5), kd_weight=1.0 if soft_targets else 0.0)
    return distill.distil(task.base, encode_pairs(task, task.corpus, pairs), keys, train,
                          batch_size=cfg.batch_size, teacher=task.teacher if soft_targets else None,
                          init_states=init_states, track=track)


def sample_model(task: Task, model, n: int, temperature: float, key) -> list[list[str]]:
    """n sampled answers per prompt from one model: P lists of n strings."""
    return distill.generate_texts(model, task.tok, task.prompts, n, key, task.cfg.sampling(temperature))


def sample_students(task: Task, students: distill.Students, n: int, temperature: float, key) -> list[list[list[str]]]:
    """n sampled answers per prompt from each of N stacked students: N x P x n strings."""
    return distill.student_responses(students, task.tok, task.prompts, n, key, task.cfg.sampling(temperature))


def embed(task: Task, texts) -> np.ndarray:
    """Embeddings of nested lists of strings, shaped like the nesting plus (384,)."""
    return distill.embed_texts(task.embedder, texts)


def describe(task: Task, embs) -> dict:
    """Per-prompt noise, hallucination share, answer entropy and ground-truth similarity of one
    model's samples (P, n, E)."""
    P = embs.shape[0]
    labels = [tm.classify(embs[p], task.centroids[p], qa_concepts.HALLUCINATION_THRESHOLD) for p in range(P)]
    return {
        "noise": tm.pairwise_cosine_distance(embs),
        "hallucination": np.array([np.mean(l < 0) for l in labels]),
        "entropy": np.array([tm.answer_entropy(l, len(task.centroids[p])) for p, l in enumerate(labels)]),
        "gt_similarity": np.array([tm.ground_truth_similarity(embs[p], task.centroids[p]) for p in range(P)]),
    }


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


def work_key(cfg: "LLMConfig", kind: str, **args) -> str:
    """Cache key of shared student work: every :class:`LLMConfig` field (those of experiment
    subclasses are not used by shared work), the setup's key, ``kind`` and its arguments."""
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(LLMConfig)}
    args = {k: (np.asarray(jax.random.key_data(a)).tolist() if isinstance(a, jax.Array)
                and jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a) for k, a in args.items()}
    return _digest({"kind": kind, "config": fields, "setup": setup_key(SetupConfig.of(cfg)), "args": args})


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


def _cached(task: Task, key: str, compute):
    """``compute()`` (JSON-able), stored as ``shared/work-<key>.json`` for later runs."""
    if task.shared is None:
        return compute()
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
    centroids = [answer_centroids(embedder, it.paraphrases) for it in setup.corpus.items]
    return Task(cfg, setup.corpus, setup.tok, setup.teacher, setup.base, embedder, prompts, centroids,
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
    n = cfg.num_students
    distill.check_memory(distill.training_bytes(model, n, cfg.batch_size, length),
                         f"distilling {n:,} GPT-2 students", n)
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
    # Teacher: answers drawn from the known distributions; base student: a little ground truth.
    truth = [(q, t) for q, _, t in corpus.sample(scfg.seed, per_question=32)]
    data = encode_pairs(tok, corpus, truth)
    teacher = _train_single(teacher, data, scfg.teacher_steps, scfg.batch_size, scfg.learning_rate,
                            jax.random.fold_in(key, 2))
    if scfg.base_steps:
        base = _train_single(base, data, scfg.base_steps, scfg.batch_size, scfg.learning_rate,
                             jax.random.fold_in(key, 3))
    return Setup(corpus, tok, teacher, base)


def _load_qa(path) -> qa.QACorpus:
    data = json.loads(Path(path).read_text()) if Path(path).is_file() else None
    return qa.load_bioasq(path) if isinstance(data, dict) else qa.load_qa_json(path)


def direct_reference(task: Task):
    """N copies of the base student fine-tuned directly on ground-truth answers (the reference
    for systematic noise), sampled: returns (embeddings (N, P, n, E), per-prompt noise (P,))."""
    cfg = task.cfg

    def compute():
        truth = [(q, t) for q, _, t in task.corpus.sample(cfg.seed + 1, per_question=8)]
        students = train_students(task, truth, rng.student_keys(rng.stream(cfg.seed, "direct"), cfg.num_students))
        return sample_students(task, students, cfg.samples, 1.0, rng.stream(cfg.seed, "direct_sampling"))

    embs = embed(task, _cached(task, work_key(cfg, "direct"), compute))
    return embs, np.mean([describe(task, e)["noise"] for e in embs], axis=0)


def summarize(task: Task, student_embs, teacher_embs, direct_noise=None) -> dict:
    """The study's student-vs-teacher numbers for N students' samples (N, P, n, E) against
    the teacher's (P, n, E): :func:`jaxkd.llm.distill.measure` (alignment, inter-student
    variance with its sampling floor, intra-model variance gap, noise and its transfer), then
    systematic noise, ground-truth similarity, hallucination,
    answer entropy and the share of prompts where students are narrower (docs/theorems.md C.1)."""
    t = describe(task, teacher_embs)
    per = [describe(task, e) for e in student_embs]
    s_noise = np.mean([d["noise"] for d in per], axis=0)
    s_entropy = np.mean([d["entropy"] for d in per], axis=0)
    gt = np.array([d["gt_similarity"].mean() for d in per])
    out = {
        **distill.measure(student_embs, teacher_embs),
        "gt_similarity": float(gt.mean()), "gt_similarity_variance": float(gt.var(ddof=1)),
        "teacher_gt_similarity": float(t["gt_similarity"].mean()),
        "hallucination": float(np.mean([d["hallucination"].mean() for d in per])),
        "teacher_hallucination": float(t["hallucination"].mean()),
        "student_entropy": float(s_entropy.mean()), "teacher_entropy": float(t["entropy"].mean()),
        "true_entropy": float(np.mean([it.entropy for it in task.corpus.items])),
        "narrower_share": tm.narrower_share(s_entropy, t["entropy"]),
    }
    if direct_noise is not None:
        out["systematic_noise"] = tm.systematic_noise(s_noise, direct_noise)
    return out


def paper(**extra) -> dict:
    """An llm-* experiment's PRESETS: the shared paper values plus its own."""
    return {("paper", "*"): {**PAPER, **extra}}


@dataclasses.dataclass(frozen=True)
class TemperatureConfig(LLMConfig):
    """An llm-* config with a teacher-temperature grid."""

    PRESETS: ClassVar[dict] = paper(temperatures=(0.5, 0.8, 1.0, 1.2, 1.5, 2.0))

    temperatures: tuple[float, ...] = option((0.5, 1.0, 1.5), "teacher sampling temperatures")

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "temperatures", v.check_grid("temperatures", self.temperatures, v.check_positive))


@dataclasses.dataclass(frozen=True)
class SweepResults(common.Results):
    """Results of an llm-* sweep: the measures of :func:`summarize`, one entry per grid point."""

    alignment: tuple[float, ...]
    inter_student_variance: tuple[float, ...]
    inter_student_variance_floor: tuple[float, ...]
    inter_student_variance_corrected: tuple[float, ...]
    intra_variance_gap: tuple[float, ...]
    teacher_noise: tuple[float, ...]
    student_noise: tuple[float, ...]
    noise_slope: tuple[float, ...]
    noise_intercept: tuple[float, ...]
    noise_r2: tuple[float, ...]
    gt_similarity: tuple[float, ...]
    gt_similarity_variance: tuple[float, ...]
    teacher_gt_similarity: tuple[float, ...]
    hallucination: tuple[float, ...]
    teacher_hallucination: tuple[float, ...]
    student_entropy: tuple[float, ...]
    teacher_entropy: tuple[float, ...]
    true_entropy: tuple[float, ...]
    narrower_share: tuple[float, ...]


def distil_at_temperature(task: Task, temperature: float, key, order):
    """Single-response distillation at one teacher temperature: the teacher answers each prompt
    once at ``temperature``, N students (one per order key) learn those answers; returns the
    embeddings of the teacher's and the students' sampled answers, (P, n, E) and (N, P, n, E)."""
    cfg = task.cfg

    def compute():
        targets = sample_model(task, task.teacher, 1, temperature, key)
        students = train_students(task, [(q, s[0]) for q, s in enumerate(targets)], order)
        return (sample_model(task, task.teacher, cfg.samples, temperature, jax.random.fold_in(key, 1)),
                sample_students(task, students, cfg.samples, 1.0, jax.random.fold_in(key, 2)))

    t_texts, s_texts = _cached(task, work_key(cfg, "distil", temperature=float(temperature), key=key, order=order),
                               compute)
    return embed(task, t_texts), embed(task, s_texts)


# --- report ----------------------------------------------------------------------------------


LLM_NOTE = ("Students are GPT-2s distilled from a GPT-2 teacher's sampled answers; answers are "
            "embedded with all-MiniLM-L6-v2. Noise = mean pairwise cosine distance of a model's "
            "sampled answers per prompt; hallucination = an answer whose nearest valid answer has "
            "cosine < 0.75; entropy = over the corpus's known valid answers plus 'hallucination'.")


def llm_header(title: str, cfg) -> str:
    """The first lines of every llm-* report: title, sizes and what the measures mean."""
    return (f"# {title}\n\n{cfg.num_students} students, {cfg.samples} samples per prompt, "
            f"{cfg.student_steps} distillation steps, preset {cfg.preset}. {LLM_NOTE}\n\n")
