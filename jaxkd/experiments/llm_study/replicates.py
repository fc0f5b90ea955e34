"""R x N students and what they produce: teacher draws, distillation in chunks of students,
and the typed outputs every llm-* measure reads.

Every number a verdict reads comes from ``replicates`` independent replicates (their own
teacher draws, perturbation keys or data orders, as each experiment's protocol says), each of
``num_students`` students; all R x N students are distilled through
:func:`jaxkd.llm.distill.distill`, in chunks of as many students as memory holds, and each chunk
is sampled as soon as it is trained, so memory never holds more than one chunk of students.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import numpy as np

from jaxkd import progress, rng
from jaxkd.experiments.llm_study.setup import Task, cached, encode_pairs, work_key
from jaxkd.llm import distill
from jaxkd.llm.objective import Loss
from jaxkd.llm.training import Compute
from jaxkd.students import ensemble


@dataclasses.dataclass(frozen=True)
class Samples:
    """Sampled answers of S models at each of several temperatures.

    ``texts[t][s][p]`` holds the n answers of model s to prompt p at ``temperatures[t]``.
    """

    temperatures: tuple[float, ...]
    texts: tuple

    def at(self, temperature: float):
        """The answers at ``temperature`` (S x P x n): one of :attr:`temperatures`, exactly."""
        if temperature not in self.temperatures:
            raise KeyError(f"no samples at temperature {temperature}; have {self.temperatures}.")
        return self.texts[self.temperatures.index(temperature)]


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What S distilled students produce, and how they trained.

    Attributes:
      greedy: each student's top-1 answer per prompt, S x P.
      samples: :class:`Samples` (S x P x n at each temperature).
      logprob: per-token teacher-forced log-probability of every valid answer, S x A.
      compute: what each student's training cost (:class:`jaxkd.llm.training.Compute`).
      losses: the training loss at every step, S x steps.
      rungs: the same students measured at checkpoints along their training, ((rung, Outputs),
        ...) with ``rung`` an epoch of the configured schedule (:func:`rung_epochs` maps it onto
        this run); each rung's ``losses`` are the steps up to it. Empty for the rungs' own outputs.
    """

    greedy: tuple
    samples: Samples
    logprob: tuple
    compute: Compute
    losses: tuple
    rungs: tuple = ()

    def at(self, rung: int | None) -> "Outputs":
        """The students at ``rung`` (an epoch of the configured schedule; None: where training ended)."""
        if rung is None:
            return self
        for r, out in self.rungs:
            if r == rung:
                return out
        raise KeyError(f"no checkpoint at rung {rung}; have {[r for r, _ in self.rungs]}.")

    def to_json(self) -> dict:
        return {"greedy": self.greedy, "temperatures": self.samples.temperatures, "samples": self.samples.texts,
                "logprob": self.logprob, "compute": dataclasses.asdict(self.compute), "losses": self.losses,
                "rungs": [[r, out.to_json()] for r, out in self.rungs]}

    @classmethod
    def from_json(cls, data: dict) -> "Outputs":
        return cls(data["greedy"], Samples(tuple(data["temperatures"]), data["samples"]), data["logprob"],
                   Compute(**data["compute"]), data["losses"],
                   tuple((int(r), cls.from_json(out)) for r, out in data.get("rungs", ())))

    @classmethod
    def concat(cls, parts: list["Outputs"]) -> "Outputs":
        """Students of several chunks, in order (their rungs too)."""
        temps = parts[0].samples.temperatures
        rungs = tuple((r, cls.concat([p.at(r) for p in parts])) for r, _ in parts[0].rungs)
        return cls([g for p in parts for g in p.greedy],
                   Samples(temps, [[s for p in parts for s in p.samples.texts[t]] for t in range(len(temps))]),
                   [x for p in parts for x in p.logprob], parts[0].compute, [x for p in parts for x in p.losses],
                   rungs)


@dataclasses.dataclass(frozen=True)
class TeacherReference:
    """The teacher on the evaluation prompts: its greedy answer per prompt (P) and, per
    replicate, ``samples`` answers per prompt at ``temperature`` (R x P x n: each replicate its
    own draws, so replicate intervals include the teacher's sampling error)."""

    temperature: float
    greedy: tuple
    samples: tuple

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TeacherReference":
        return cls(**data)


def temperature_key(key, temperature: float):
    """``key`` with a temperature folded in (both 32-bit halves of its float64 bits), so every
    temperature of any grid has its own stream and the same temperature the same stream."""
    bits = int(np.float64(temperature).view(np.uint64))
    return rng.point_key(key, bits >> 32, bits & 0xFFFFFFFF)


def teacher_draws(task: Task, key, k: int, temperature: float) -> list[list[list[str]]]:
    """k teacher answers per distillation prompt for each of the R x N students, each student its
    own draws (student j's from ``fold_in(key, j)``): (R*N) x P x k strings."""
    return distill.teacher_responses(task.teacher, task.tok, task.prompts, k, key, task.cfg.sampling(temperature),
                                     students=task.cfg.total_students)


def greedy_answers(task: Task, prompts=None) -> list[str]:
    """The teacher's top-1 answer per prompt (P strings): the distillation prompts by default."""
    return [a[0] for a in distill.generate_texts(task.teacher, task.tok, task.prompts if prompts is None else prompts,
                                                 1, jax.random.key(0), task.cfg.greedy)]


def teacher_reference(task: Task, temperature: float) -> TeacherReference:
    """The teacher's greedy answers and, per replicate, its samples at ``temperature`` on the
    evaluation prompts, cached in the shared folder."""
    cfg = task.cfg
    key = temperature_key(rng.stream(cfg.seed, "teacher_eval"), temperature)
    return cached(task, work_key(cfg, "teacher", temperature=float(temperature)), lambda: TeacherReference(
        float(temperature), greedy_answers(task, task.eval_prompts),
        distill.teacher_responses(task.teacher, task.tok, task.eval_prompts, cfg.samples, key,
                                  cfg.sampling(temperature), students=cfg.replicates)),
        load=TeacherReference.from_json)


def replicate_keys(task: Task, name: str):
    """One key per student from stream ``name``, the same for the N students of a replicate and
    another for each replicate: (R*N,). What a protocol freezes within a replicate (the data
    order, dropout) still differs across replicates."""
    cfg = task.cfg
    return jax.numpy.repeat(rng.student_keys(rng.stream(cfg.seed, name), cfg.replicates), cfg.num_students)


def training_pairs(task: Task, pairs) -> distill.Pairs:
    """Encoded training pairs: one list of (prompt index, text) per student -> (N, M, L), or one
    shared list -> (M, L); encoded :class:`~jaxkd.llm.pairs.Pairs` pass through."""
    if isinstance(pairs, distill.Pairs):
        return pairs
    if pairs and isinstance(pairs[0], list):
        return distill.stack_pairs([encode_pairs(task.tok, task.corpus, p) for p in pairs], task.eos)
    return encode_pairs(task.tok, task.corpus, pairs)


def rows(pairs: distill.Pairs, lo: int, hi: int) -> distill.Pairs:
    return pairs if not pairs.per_student else distill.Pairs(pairs.tokens[lo:hi], pairs.mask[lo:hi],
                                                              pairs.loss_mask[lo:hi])


def chunk_size(task: Task, pairs: distill.Pairs, loss: Loss, cached: bool = False) -> int:
    """Students trained at a time: as many as memory holds (all R x N on the quick preset).
    Sampling a trained chunk blocks itself further when it must
    (:func:`jaxkd.llm.distill.sampling_blocks`)."""
    cfg = task.cfg
    length = pairs.tokens.shape[-1] + (loss.max_new_tokens if loss.on_policy else 0)
    per = distill.training_bytes(task.base, 1, cfg.batch_size, length,
                                 soft=loss.needs_teacher and (not cached or loss.on_policy > 0))
    return distill.students_per_chunk(per, cfg.total_students, what="training an llm-* student")


def train_and_sample(task: Task, pairs, *, epochs: int | None = None, max_steps: int | None = None, order, key,
                     temperatures=(1.0,), init_states=None, soft: bool = False, loss: Loss | None = None,
                     sample_keys=None, coin_key=None, trace: Callable | None = None,
                     before: Callable | None = None, after: Callable | None = None, teacher_logits=None,
                     stopping: ensemble.Stopping | None = None, cache: dict | None = None,
                     at_end: bool = False) -> Outputs:
    """Distil the R x N students from their replicate's base student (or ``init_states``) and
    collect what they produce on the evaluation prompts, in chunks of students
    (:func:`chunk_size`). Dropout, where the student has it, uses one key per replicate, like the
    data order of the protocols that freeze it.

    Args:
      pairs: one list of (prompt index, text) per student (each student its own set, all the
        same length), or one list shared by all.
      epochs: passes over each student's set (default ``cfg.epochs``); ``max_steps`` stops
        earlier (compute-matched comparisons).
      order: (R*N,) data-order keys.
      key: the students' sampling key (student s's sequences from ``split(key, (S, ...))[s]``
        whatever the chunk).
      temperatures: sampling temperatures of :attr:`Outputs.samples`.
      init_states: optional initial parameters: stacked (R*N, ...), or a function ``(lo, hi)
        -> (hi - lo, ...)`` called per chunk (default :meth:`Task.base_states`), so that only a
        chunk's starting parameters are ever in memory.
      soft: token-level soft targets (forward KL to the teacher) instead of cross-entropy.
      loss: any :class:`jaxkd.llm.objective.Loss` instead (divergences, on-policy), with
        ``sample_keys`` (R*N,) and ``coin_key`` as :func:`jaxkd.llm.distill.distill` needs them.
      trace, before, after: ``trace`` is :func:`jaxkd.llm.distill.distill`'s; ``before(states,
        lo, hi)`` sees each chunk's starting parameters (students lo..hi-1), ``after(students,
        lo, hi)`` each trained chunk before it is discarded.
      teacher_logits: the teacher's top k on these pairs
        (:class:`jaxkd.llm.teacher_logits.TeacherLogits`), read instead of running the teacher
        (``loss.top_k`` set); each chunk reads its students' rows.
      stopping: each student trained until the rule holds, ``epochs`` (or ``max_steps``) the cap
        (:class:`jaxkd.students.ensemble.Stopping`).
      cache: what this training is, in plain values (with the config it names it uniquely): the
        outputs at every rung are stored in the run's shared folder under it, so the same step
        judged at another rung (``cfg.rung``) reads them instead of training again.

    Every student is also measured at each rung of ``cfg.rungs`` as its training passes it
    (:func:`rung_epochs`); the outputs returned are those at ``cfg.rung`` (None, or
    ``at_end``: where training ended, the rungs in :attr:`Outputs.rungs`).
    """
    cfg = task.cfg
    args = dict(epochs=epochs, max_steps=max_steps, order=order, key=key, temperatures=temperatures,
                init_states=init_states, loss=loss or (Loss("forward_kl") if soft else Loss()), sample_keys=sample_keys,
                coin_key=coin_key, trace=trace, before=before, after=after, teacher_logits=teacher_logits,
                stopping=stopping)
    rung = None if at_end else cfg.rung
    if cache is None:
        return ladder(task, pairs, **args).at(rung)
    return cached(task, work_key(cfg, "students", what=cache), lambda: ladder(task, pairs, **args),
                  load=Outputs.from_json).at(rung)


def ladder(task: Task, pairs, *, epochs, max_steps, order, key, temperatures, init_states, loss, sample_keys,
           coin_key, trace, before, after, teacher_logits, stopping) -> Outputs:
    """:func:`train_and_sample`'s students where training ended, every rung in :attr:`Outputs.rungs`."""
    cfg = task.cfg
    data = training_pairs(task, pairs)
    S = cfg.total_students
    chunk = chunk_size(task, data, loss, cached=teacher_logits is not None)
    init_states = task.base_states if init_states is None else init_states
    keys = {T: jax.random.split(jax.random.fold_in(key, i), S) for i, T in enumerate(temperatures)}
    parts = []
    with progress.task(f"{S} students: distilling and sampling", total=S, unit="student") as bar:
        for lo in range(0, S, chunk):
            hi = min(lo + chunk, S)
            parts.append(_chunk(task, data, lo, hi, epochs, max_steps, order, init_states, loss, sample_keys,
                                coin_key, trace, temperatures, keys, before, after, bar,
                                None if teacher_logits is None else teacher_logits.students(data, lo, hi), stopping))
    return Outputs.concat(parts)


def rung_epochs(cfg, epochs_run: int, converged: bool = False) -> dict[int, int]:
    """Where each rung of ``cfg.rungs`` (an epoch of the configured ``cfg.epochs``) falls on a run
    of ``epochs_run`` epochs: at the same share of its training, rounded to an epoch and kept
    within 1 .. ``epochs_run`` (a run too short to resolve a rung is measured at its nearest
    epoch; at ``epochs_run`` that is where it ended), {rung: epoch}. Each rung's outputs record
    the steps it had (:attr:`Outputs.compute`). ``converged``: a row trained until a stopping
    rule held, whose fit is its own convergence: every rung is where it ended."""
    if converged:
        return {r: epochs_run for r in cfg.rungs}
    return {r: min(max(int(round(r * epochs_run / cfg.epochs)), 1), epochs_run) for r in cfg.rungs}


def _chunk(task, data, lo, hi, epochs, max_steps, order, init_states, loss, sample_keys, coin_key, trace, temperatures,
           keys, before, after, bar, teacher_logits, stopping):
    """Students lo..hi-1 distilled, sampled and dropped: their :class:`Outputs`."""
    cfg = task.cfg
    init = init_states(lo, hi) if callable(init_states) else jax.tree.map(lambda a: a[lo:hi], init_states)
    if before is not None:
        before(init, lo, hi)
    epochs = cfg.epochs if epochs is None else epochs
    schedule = ensemble.Schedule(epochs, cfg.batch_size, drop_last=False, max_steps=max_steps)
    steps = schedule.total_steps(data.num_pairs)
    # A row trained to its own convergence is measured where it stopped, at every rung.
    at = rung_epochs(cfg, schedule.epochs_run(data.num_pairs), converged=stopping is not None)
    inside = tuple(sorted({e for e in at.values() if e < schedule.epochs_run(data.num_pairs)}))
    seen = {}  # checkpoint epoch -> outputs of the students passing it, part by part

    def checkpoint(epoch, a, b, students):
        with progress.task(f"sampling students {lo + a + 1}-{lo + b} at epoch {epoch}"):
            seen.setdefault(epoch, []).append(_outputs(task, students, temperatures,
                                                       {T: k[lo + a:lo + b] for T, k in keys.items()}))
    with progress.task(f"distilling students {lo + 1}-{hi}", total=steps * (hi - lo), unit="student-step") as p:
        def advance(done, total):
            p.advance(done - p.done)

        students = distill.distill(
            task.base, rows(data, lo, hi), order_keys=order[lo:hi], epochs=epochs, max_steps=max_steps,
            batch_size=cfg.batch_size, optimizer=cfg.optimizer, learning_rate=cfg.learning_rate,
            loss=loss, teacher=task.teacher if loss.needs_teacher and (teacher_logits is None or loss.on_policy)
            else None, teacher_logits=teacher_logits, stopping=stopping,
            sample_keys=None if sample_keys is None else sample_keys[lo:hi], coin_key=coin_key,
            init_states=init,
            dropout_keys=replicate_keys(task, "dropout")[lo:hi] if task.base.config.dropout else None, trace=trace,
            progress=advance, checkpoints=inside, on_checkpoint=checkpoint if inside else None)
    with progress.task(f"sampling students {lo + 1}-{hi}"):
        out = _outputs(task, students, temperatures, {T: k[lo:hi] for T, k in keys.items()})
    rungs = []
    for r, e in at.items():  # a rung at the run's last epoch is where it ended
        part = Outputs.concat(seen[e]) if e in seen else out
        rungs.append((r, dataclasses.replace(part, losses=[x[:part.compute.steps] for x in out.losses])))
    out = dataclasses.replace(out, rungs=tuple(rungs))
    if after is not None:
        after(students, lo, hi)
    bar.advance(hi - lo)
    return out


def _outputs(task: Task, students: distill.Students, temperatures, keys) -> Outputs:
    """What a trained chunk of students produces; ``keys[T]`` holds one sampling key per student."""
    cfg = task.cfg
    none = jax.random.split(jax.random.key(0), students.num_students)  # greedy decoding draws nothing
    prompts = task.eval_prompts
    greedy = [[a[0] for a in s] for s in distill.student_responses(students, task.tok, prompts, 1, none, cfg.greedy)]
    texts = [distill.student_responses(students, task.tok, prompts, cfg.samples, keys[T], cfg.sampling(T))
             for T in temperatures]
    return Outputs(greedy, Samples(tuple(map(float, temperatures)), texts),
                   distill.student_logprobs(students, task.answers).tolist(), students.compute,
                   [] if students.losses is None else np.asarray(students.losses).tolist())


def reference_answers(task: Task) -> list[tuple[int, str]]:
    """One reference answer per distillation prompt, (prompt index, text): the most probable valid
    answer's first paraphrase (BioASQ's ideal answer), what the direct fine-tune learns."""
    return [(p, it.paraphrases[int(np.argmax(it.probs))][0]) for p, it in enumerate(task.corpus.items)]


def direct_reference(task: Task, final: bool = False) -> Outputs:
    """R x N copies of the base students fine-tuned directly on one reference answer per prompt
    (the most probable valid answer's first paraphrase; BioASQ's ideal answer), for the
    distillation's epochs, at ``cfg.rung`` (``final``: where training ended, the set-up's
    competence gate): the study's reference of systematic noise and a row of the
    variance-aware table. Cached."""
    return train_and_sample(task, reference_answers(task), order=replicate_keys(task, "data_order"),
                            key=rng.stream(task.cfg.seed, "direct_sampling"), cache={"kind": "direct"},
                            at_end=final)


def distil_at_temperature(task: Task, temperature: float) -> Outputs:
    """R x N students, each distilled on its own teacher answer per prompt drawn at
    ``temperature``, from the base student in one fixed data order; their outputs at
    ``cfg.rung``, cached in the shared folder (llm-noise-transfer reuses them)."""
    cfg = task.cfg
    key = temperature_key(rng.stream(cfg.seed, "teacher_sampling"), temperature)
    draws = cached(task, work_key(cfg, "teacher-draws", temperature=float(temperature)),
                   lambda: teacher_draws(task, key, 1, temperature))
    pairs = [[(p, d[0]) for p, d in enumerate(student)] for student in draws]
    return train_and_sample(task, pairs, order=replicate_keys(task, "data_order"),
                            key=temperature_key(rng.stream(cfg.seed, "student_eval"), temperature),
                            cache={"kind": "teacher-noise", "temperature": float(temperature)})
