"""The computation of llm-init: ``run(config, run_dir) -> Results``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxkd import rng
from jaxkd.experiments import regression
from jaxkd.experiments.init_perturbation import config as ip_config
from jaxkd.experiments.llm_init.config import Config
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, setup
from jaxkd.runs import RunDir, columns, sweep
from jaxkd.students import mlp

MODELS = llm_config.LLMConfig.MODELS
#: The three tracked parameters per model family: one token embedding entry, one weight of the
#: first layer's query projection, one of the last layer's first MLP matrix.
TRACKED = {"gpt2": ("wte embedding[5, 0]", "h[0] c_attn kernel[0, 0]", "h[-1] c_fc kernel[0, 0]"),
           "llama": ("embed_tokens embedding[5, 0]", "layers[0] q_proj kernel[0, 0]", "layers[-1] gate_proj kernel[0, 0]")}


def _tracked(state) -> jax.Array:
    """The tracked scalars of one student (:data:`TRACKED` for its family): (3,)."""
    pure = nnx.to_pure_dict(state)
    if "wte" in pure:  # GPT-2
        return jnp.stack([pure["wte"]["embedding"][5, 0], pure["h"][0]["attn"]["c_attn"]["kernel"][0, 0],
                          pure["h"][max(pure["h"])]["mlp"]["c_fc"]["kernel"][0, 0]])
    layers = pure["layers"]
    return jnp.stack([pure["embed_tokens"]["embedding"][5, 0], layers[0]["self_attn"]["q_proj"]["kernel"][0, 0],
                      layers[max(layers)]["mlp"]["gate_proj"]["kernel"][0, 0]])


class Spread:
    """Per replicate, the variance across its students of every parameter, averaged over all
    parameters, accumulated chunk by chunk of students (sums and sums of squares in float64)."""

    def __init__(self, replicates: int, students: int):
        self.R, self.N = replicates, students
        self.s1, self.s2 = None, None

    def add(self, states, lo: int) -> None:
        leaves = [np.asarray(a, np.float64).reshape(a.shape[0], -1) for a in jax.tree.leaves(states)]
        x = np.concatenate(leaves, axis=1)                                 # (chunk, parameters)
        if self.s1 is None:
            self.s1, self.s2 = np.zeros((self.R, x.shape[1])), np.zeros((self.R, x.shape[1]))
        rep = (lo + np.arange(x.shape[0])) // self.N
        np.add.at(self.s1, rep, x)
        np.add.at(self.s2, rep, x * x)

    def value(self) -> np.ndarray:
        mean = self.s1 / self.N
        return ((self.s2 - self.N * mean * mean) / (self.N - 1)).mean(axis=1)


def parameter_spread(states, replicates: int) -> np.ndarray:
    """Per replicate, the variance across its students of every parameter, averaged over all
    parameters: stacked states (R*N, ...) -> (R,)."""
    n = jax.tree.leaves(states)[0].shape[0]
    spread = Spread(replicates, n // replicates)
    spread.add(states, 0)
    return spread.value()


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per perturbation scale s; measures per replicate)."""

    scale: tuple[float, ...]
    spread_before: tuple[tuple[float, ...], ...]       # GPT-2 parameter variance, s x R
    spread_after: tuple[tuple[float, ...], ...]
    mlp_spread_before: tuple[tuple[float, ...], ...]   # MLP students, same rule, s x R_mlp (cfg.mlp_replicates)
    mlp_spread_after: tuple[tuple[float, ...], ...]
    tracked_spread: tuple[tuple[float, ...], ...]      # s x steps: std across students of the tracked scalars
    trajectories: tuple                                 # s x tracked students x 3 x steps
    mlp_variance: tuple[tuple[float, ...], ...]        # MLP test-prediction variance across students, s x R_mlp
    logprob_signal: tuple[tuple[float, ...], ...]      # variance across valid answers of the mean log-prob, s x R
    mlp_signal: tuple[tuple[float, ...], ...]          # variance across test inputs of the mean prediction, s x R_mlp


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


#: The MLP comparator's design, matched to the language-model students': one init shared by a
#: replicate's students (the pretrained base student is one point too), perturbed by the same
#: rule, learning a deterministic teacher's outputs (the language-model students learn the
#: teacher's greedy answers). init-perturbation's own default (the study's MLP script) gives each
#: student a fresh init, whose spread would swamp the perturbation's.
MLP_DESIGN = {"fresh_init": False, "labels": "teacher"}


def mlp_comparator(cfg: Config) -> dict:
    """MLP students on Boston (init-perturbation's quick network and training, :data:`MLP_DESIGN`)
    in ``cfg.mlp_replicates`` replicates, all on one student axis: each replicate its own MLP
    teacher (trained on the true labels for init-perturbation's epochs) and one init shared by its
    max(N, 10) students, perturbed at the same scales. Per scale and replicate (s, R_mlp): the
    parameter spread before and after training, the variance across students of their test
    predictions, and the variance across test inputs of their mean prediction (the signal); at a
    rung of the fit ladder, after the same share of their training (epochs x ``cfg.fit_level``;
    the teachers are trained in full either way)."""
    ipc = ip_config.Config.from_preset("quick", scales=cfg.scales, seed=cfg.seed, **MLP_DESIGN)
    task = regression.mlp_task(ipc)   # Boston's split and the students' network (its one teacher is not used)
    R, n = cfg.mlp_replicates, max(cfg.num_students, 10)
    widths = task.train.widths
    teachers = mlp.init_ensemble(widths, rng.student_keys(rng.stream(cfg.seed, "mlp_teacher_init"), R), ipc.init)
    teachers = mlp.train_ensemble(dataclasses.replace(task.train, epochs=ipc.epochs), teachers, task.X, task.y_train)
    mu = np.asarray(mlp.predict(widths, teachers, task.X)[..., 0])                  # (R, n_train)
    Y = np.repeat(mu, n, axis=0) if ipc.labels == "teacher" else task.y_train      # (R*n, n_train)
    init_keys = rng.student_keys(rng.stream(cfg.seed, "mlp_init"), R * n if ipc.fresh_init else R)
    bases = mlp.init_ensemble(widths, init_keys, ipc.init)
    if not ipc.fresh_init:  # replicate r's students all start from its one init
        bases = jax.tree.map(lambda a: jnp.repeat(a, n, axis=0), bases)
    # At a rung of the fit ladder the MLP students train the same share of their budget, so both
    # classes are compared at the same share of training.
    train = dataclasses.replace(task.train, epochs=max(1, int(round(ipc.students_epochs * cfg.fit_level))))
    perturb_key = rng.stream(cfg.seed, "mlp_perturbation")
    before, after, variance, signal = [], [], [], []
    for i, s in enumerate(cfg.scales):
        keys = rng.student_keys(rng.point_key(perturb_key, i), R * n)
        init = jax.vmap(mlp.perturb, in_axes=(0, 0, None, None))(bases, keys, s, ipc.bias_scale)
        params = mlp.train_ensemble(train, init, task.X, Y)
        preds = np.asarray(mlp.predict(widths, params, task.X_test)[..., 0], np.float64).reshape(R, n, -1)
        before.append(parameter_spread(init, R))
        after.append(parameter_spread(params, R))
        variance.append(preds.var(axis=1, ddof=1).mean(axis=1))   # V (4.1) of each replicate's students
        signal.append(np.var(preds.mean(axis=1), axis=1))
    return {"mlp_spread_before": np.asarray(before), "mlp_spread_after": np.asarray(after),
            "mlp_variance": np.asarray(variance), "mlp_signal": np.asarray(signal)}


def increments(res: "Results", name: str) -> np.ndarray:
    """Per scale and replicate, ``name`` minus its value at s = 0 of the same replicate (what the
    perturbation adds over the unperturbed students of the same design): (s, R)."""
    x = np.asarray(getattr(res, name), float)
    return x - x[list(res.scale).index(0.0)]


def design_problem(res: "Results") -> str | None:
    """Why the two classes' designs are not matched (None when they are): at s = 0 a replicate's
    students start as one point, so their parameter spread is 0 but for float rounding in both
    classes: below a millionth of the spread at the smallest s above 0 (fresh inits give more
    than that smallest perturbation's)."""
    i = list(res.scale).index(0.0)
    j = min((k for k, s in enumerate(res.scale) if s > 0), key=lambda k: res.scale[k])
    unmatched = [who for who, before in (("MLP", res.mlp_spread_before), (res.config.family_label, res.spread_before))
                 if max(before[i]) > 1e-6 * min(before[j])]
    return None if not unmatched else (f"the {' and '.join(unmatched)} students do not share one init per replicate "
                                       "(parameter spread above 0 at s = 0), so a perturbation's effect cannot be "
                                       "told from the spread of their inits")


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    teacher = replicates.teacher_reference(task, 1.0)
    pairs = list(enumerate(replicates.greedy_answers(task)))   # the teacher's greedy answers to the distillation prompts
    # Frozen data order within a replicate: its students see the same batches.
    order = replicates.replicate_keys(task, "data_order")
    perturb_key = rng.stream(cfg.seed, "init_perturbation")
    mlps = mlp_comparator(cfg)

    def trained(i, s):
        """Scale s's students trained (the outputs at every rung) and what training did to their
        parameters: JSON, cached in the shared folder so every rung reads the same run."""
        keys = rng.student_keys(rng.point_key(perturb_key, i), cfg.total_students)
        spread0, after = Spread(cfg.replicates, cfg.num_students), Spread(cfg.replicates, cfg.num_students)
        starts, traces = [], []

        def init(lo, hi):  # students lo..hi-1 perturbed from their base (only a chunk in memory)
            return jax.vmap(mlp.perturb, in_axes=(0, 0, None))(task.base_states(lo, hi), keys[lo:hi], s)

        def start(states, lo, hi):
            spread0.add(states, lo)
            starts.append(np.asarray(jax.vmap(_tracked)(states)))          # (chunk, 3)

        def keep(students, lo, hi):
            after.add(students.states, lo)
            traces.append(np.asarray(students.trace))                       # (chunk, steps, 3)

        out = replicates.train_and_sample(task, pairs, order=order, init_states=init, trace=_tracked, before=start,
                                          after=keep, key=rng.point_key(perturb_key, i, 1), at_end=True)
        traj = np.concatenate([np.concatenate(starts)[:, None], np.concatenate(traces)], axis=1)  # (S, steps + 1, 3)
        return {"outputs": out.to_json(), "spread_before": spread0.value().tolist(),
                "spread_after": after.value().tolist(), "trajectories": traj[: cfg.num_students].tolist()}

    def point(p):
        i, s = p
        done = setup.cached(task, setup.work_key(cfg, "init", scale=float(s), row=i, **setup.own_fields(cfg)),
                            lambda: trained(i, s))
        out = replicates.Outputs.from_json(done["outputs"]).at(cfg.rung)
        # replicate 0's tracked parameters, up to the rung: (N, steps + 1, 3)
        first = np.asarray(done["trajectories"], float)[:, : out.compute.steps + 1]
        logprob = np.asarray(out.logprob, np.float64).reshape(cfg.replicates, cfg.num_students, -1)
        return {"scale": s, **measures.measure(task, out, teacher, targets=pairs), "passes": float(out.compute.epochs),
                "steps": out.compute.steps,
                "spread_before": done["spread_before"], "spread_after": done["spread_after"],
                "logprob_signal": np.var(logprob.mean(axis=1), axis=1).tolist(),
                **{k: mlps[k][i].tolist() for k in ("mlp_spread_before", "mlp_spread_after", "mlp_variance",
                                                    "mlp_signal")},
                "tracked_spread": first.std(axis=0, ddof=1).mean(axis=1).tolist(),
                "trajectories": np.transpose(first[: cfg.tracked_students], (0, 2, 1)).tolist()}

    rows = sweep(run_dir, [(f"s-{i:02d}", (i, s)) for i, s in enumerate(cfg.scales)], point,
                        desc="llm-init")
    return {**columns(rows), **measures.regime(task)}


def amplification(before, after) -> np.ndarray:
    """Spread after / before training per replicate (NaN where nothing was perturbed)."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    return np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)
