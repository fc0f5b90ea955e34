"""Verification of X.4-X.9 (distillation objectives on categorical students) through jaxkd's
own code: students are fitted by minimising ``jaxkd.divergences`` (optax L-BFGS for the small
categorical families, ``jaxkd.students.ensemble`` with Adam for network students) or, against a
teacher truncated to its top k (X.8, X.9), ``jaxkd.llm.topk.divergence`` on the teacher that
``jaxkd.llm.topk.truncate`` truncates (optax Adam and gradient descent); answers are sampled by
``jaxkd.teachers.sample_answers``; the closed forms come from ``jaxkd.theory.objectives``.

Each ``check_x_*`` takes the :class:`jaxkd.theory.verify.Context` that ``jaxkd.theory.verify.verify`` builds
(only ``ctx.key``, ``ctx.simulated`` and ``ctx.num_students`` are used) and returns a list of
:class:`jaxkd.theory.checks.Check`; ``VERIFIERS`` maps each identifier to its function (X.8 and X.9
only where the llm extra is installed: they import ``jaxkd.llm``, on use);
``jaxkd.theory.verify.VERIFIERS`` includes them (this module imports nothing of ``verify``).
Run under ``jax.enable_x64(True)`` as ``verify`` does.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy.special import entr, gammaln

from jaxkd import _extras, divergences, teachers, uncertainty
from jaxkd.students import ensemble, mlp
from jaxkd.theory import objectives as ob
from jaxkd.theory.checks import EPS, Check, below, compare, exact

BETAS = (0.0, 0.1, 0.5, 0.9, 1.0)
# Teachers: a plain one, and three valid answers with a hallucination tail of ten answers
# (5% in all, decaying geometrically: a non-uniform tail, so the objectives disagree).
PLAIN = np.array([0.5, 0.3, 0.15, 0.05])
_JUNK = np.exp(-0.5 * np.arange(10))
HALLUCINATING = np.concatenate([[0.5, 0.3, 0.15], 0.05 * _JUNK / _JUNK.sum()])
SEQUENCE_KD = 50  # X.6's simulated students, a multiple of num_students: resolves 5% at the default
OPT_TOL = 1e-9  # L-BFGS on these smooth, convex, tiny problems reaches ~1e-15; this is slack


def _lbfgs(loss, x0, iters: int = 200):
    """Minimise ``loss`` from ``x0`` with optax L-BFGS (zoom line search)."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def step(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state)
        with jax.numpy_dtype_promotion("standard"):  # optax's int32 counters, as in ensemble
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        return (optax.apply_updates(x, updates), state), None

    with jax.numpy_dtype_promotion("standard"):
        state = opt.init(x0)
    (x, _), _ = jax.lax.scan(step, (x0, state), None, length=iters)
    return x


def _lumped_logits(theta, K: int, r: int):
    return jnp.concatenate([theta[:r], jnp.full((K - r,), theta[r])])


K_MAX = 13  # every categorical fit below is padded to this many answers: one compiled program


@jax.jit
def _fit_padded(log_p, beta, head_mask, valid):
    """Categorical student minimising JSD(β) to p through jaxkd.divergences, padded to K_MAX
    answers (``valid``; padding has probability 0 on both sides): free logits where
    ``head_mask``, one shared logit on the other valid answers. Returns q (K_MAX,)."""
    def logits(th):  # th: (K_MAX + 1,): one logit per head answer, the shared tail logit last
        return jnp.where(valid, jnp.where(head_mask, th[:-1], th[-1]), -jnp.inf)

    theta = _lbfgs(lambda th: divergences.generalized_jsd(logits(th), log_p, beta),
                   jnp.zeros(K_MAX + 1, log_p.dtype))
    return jax.nn.softmax(logits(theta))


def _fit(p, beta, r=None):
    """Fit a free (r None) or lumped-tail (r head answers) student to p (K,): q (K,)."""
    K = len(p)
    pad = jnp.arange(K_MAX) < K
    log_p = jnp.where(pad, jnp.log(jnp.pad(jnp.asarray(p, jnp.float64), (0, K_MAX - K))), -jnp.inf)
    head = pad if r is None else jnp.arange(K_MAX) < r
    return _fit_padded(log_p, jnp.asarray(beta, jnp.float64), head, pad)[:K]


def _label(p) -> str:
    return f"K={len(p)}" + (" (hallucination tail)" if len(p) > 4 else "")


# --- X.4 -----------------------------------------------------------------------------------------


def check_x_4(ctx) -> list[Check]:
    out = []
    for p in (PLAIN, HALLUCINATING):
        h_p = float(ob.entropy(p))
        for beta in BETAS:
            q = ctx.simulated(f"X.4/{_label(p)}/{beta}", lambda p=p, beta=beta: np.asarray(_fit(p, beta)))
            out.append(exact("X.4", f"free student, β={beta}, {_label(p)}: max |q − p|", 0.0,
                                  np.abs(q - np.asarray(ob.free_student(p, beta))).max(), OPT_TOL,
                                  "L-BFGS on jaxkd.divergences; optimiser slack"))
            out.append(exact("X.4", f"free student, β={beta}, {_label(p)}: H(q) − H(p_T)", 0.0,
                                  float(ob.entropy(q)) - h_p, OPT_TOL, "optimiser slack"))
    return out


# --- X.5 -----------------------------------------------------------------------------------------


def _fkl_loss(model, x, y):  # per-example forward KL, y = teacher logits (b, C)
    return divergences.forward_kl(model(x), y)


def _exp_family_case(key):
    """A random exponential family (K = 8 answers, d = 3 features) that cannot represent p."""
    kf, kp = jax.random.split(key)
    F = jax.random.normal(kf, (8, 3), jnp.float64)
    p = jax.nn.softmax(2.0 * jax.random.normal(kp, (8,), jnp.float64))
    loss = lambda th: divergences.forward_kl(F @ th, jnp.log(p))
    theta = _lbfgs(loss, jnp.zeros(3, jnp.float64), iters=300)
    return F, p, theta, jax.nn.softmax(F @ theta), float(jnp.linalg.norm(theta) * jnp.linalg.norm(jax.grad(loss)(theta)))


def check_x_5(ctx, epochs: int = 1500, students: int = 3) -> list[Check]:
    out = []
    # (a) Exponential family: H(q*) − H(p) = KL(p || q*), the maximum-entropy property.
    F, p, theta, q, bound = ctx.simulated("X.5/family", lambda: _exp_family_case(ctx.key("X.5/family")))
    out.append(exact("X.5", "exp. family (K=8, d=3), forward-KL fit: H(q) − H(p) = KL(p || q)",
                          ob.forward_kl_entropy_gap(p[None], q[None]), float(ob.entropy(q) - ob.entropy(p)),
                          bound + 100 * EPS, "‖θ‖‖∇L‖ at the fit (Cauchy–Schwarz) + rounding"))
    # (b) Students trained by jaxkd.students.ensemble on a teacher they cannot represent: a
    # logistic regression and a ReLU MLP (widths 6 -> 16 -> 5), soft targets and hard labels.
    for name, s, target, predicted, observed, bound in ctx.simulated(
            f"X.5/students/{epochs}/{students}", lambda: _trained_students(ctx.key("X.5/students"), epochs, students)):
        out.append(exact("X.5", f"{name} student {s}, {target}: mean H(q) − mean H(p) = mean KL(p || q)",
                         predicted, observed, bound + 1e-5 * max(1.0, abs(predicted)),
                         "‖W‖‖∇_W L‖ of the last layer after training + float32 rounding"))
    return out


def _trained_students(key, epochs: int, students: int) -> list[tuple]:
    """Per trained student: (model, index, target, mean KL(p || q), mean H(q) − mean H(p), the
    bound on the stationarity remainder), all measured through jaxkd.divergences."""
    kx, kt, ks = jax.random.split(key, 3)
    X = jax.random.normal(kx, (256, 6), jnp.float32)
    teacher_logits = 3.0 * jnp.sin(X @ jax.random.normal(kt, (6, 5), jnp.float32))  # (256, 5)
    hard = jnp.where(jax.nn.one_hot(jnp.argmax(teacher_logits, -1), 5) > 0, 0.0, -jnp.inf).astype(jnp.float32)
    rows = []
    for (name, widths), (target, T) in itertools.product(
            (("logistic", (6, 5)), ("MLP", (6, 16, 5))), (("soft", teacher_logits), ("hard labels", hard))):
        graphdef, states = ensemble.init(lambda rngs, w=widths: mlp.MLP(w, rngs=rngs), jax.random.split(ks, students))
        states = ensemble.train(graphdef, states, _fkl_loss, X, T, optimizer=optax.adam(3e-3), epochs=epochs)
        for s in range(students):
            model = nnx.merge(graphdef, jax.tree.map(lambda a, s=s: a[s], states))
            z = model(X).astype(jnp.float64)
            pt = jnp.exp(jax.nn.log_softmax(T.astype(jnp.float64)))
            observed = float(jnp.mean(divergences.entropy(z)) - jnp.mean(ob.entropy(pt)))
            predicted = float(jnp.mean(divergences.forward_kl(z, T.astype(jnp.float64))))
            # The remainder is -<grad_W L, W> over the last layer (kernel and bias): bounded by
            # the norms, measured here.
            last = model.layers[-1]
            grads = jax.grad(lambda kb, model=model, T=T: jnp.mean(divergences.forward_kl(
                _hidden(model, X) @ kb[0] + kb[1][None], T)))((last.kernel[...], last.bias[...]))
            bound = float(sum(jnp.linalg.norm(a) * jnp.linalg.norm(g)
                              for a, g in zip((last.kernel[...], last.bias[...]), grads)))
            rows.append((name, s, target, predicted, observed, bound))
    return rows


def _hidden(model, X):
    """The last layer's input: every layer but the last, with ReLU."""
    h = X
    for layer in model.layers[:-1]:
        h = jax.nn.relu(layer(h))
    return h


# --- X.6 -----------------------------------------------------------------------------------------


def _compositions(k: int, K: int) -> np.ndarray:
    return np.array([[b - a - 1 for a, b in zip((-1,) + c, c + (k + K - 1,))]
                     for c in itertools.combinations(range(k + K - 1), K - 1)], float)


def _lumped_fit_entropy(p_hat, r: int):
    """Entropy of the lumped-tail student fitted by maximum likelihood to ``p_hat`` (..., K):
    head p_hat, tail share spread evenly (the M-projection)."""
    K = p_hat.shape[-1]
    tail = jnp.sum(p_hat[..., r:], axis=-1, keepdims=True)
    q = jnp.concatenate([p_hat[..., :r], jnp.broadcast_to(tail / (K - r), (*p_hat.shape[:-1], K - r))], axis=-1)
    return uncertainty.entropy(q)


def _enumerate(p, r: int, k: int, K: int) -> tuple[float, float, int]:
    """E and Var of H(q̂_k) over every composition of k samples into K answers (multinomial
    weights; the lumped student fitted to each by jaxkd's entropy), and the number of terms."""
    counts = _compositions(k, K)
    log_pmf = gammaln(k + 1.0) - gammaln(counts + 1.0).sum(axis=1) + counts @ np.log(np.asarray(p))
    pmf = np.exp(log_pmf)
    h = np.asarray(_lumped_fit_entropy(jnp.asarray(counts / k), r))
    return float(pmf @ h), float(pmf @ (h - pmf @ h) ** 2), len(counts)


def check_x_6(ctx, ks=(1, 2, 5, 20)) -> list[Check]:
    out = []
    p = jnp.asarray(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))
    r, K = 2, 6
    h_star = float(ob.entropy(ob.lumped_student(p, r, 0.0)))
    # The M-projection used below is the forward-KL optimum over the lumped family (jaxkd.divergences).
    q_fit = ctx.simulated("X.6/fit", lambda: _fit(p, 0.0, r))
    out.append(exact("X.6", "lumped student's forward-KL fit = head p, tail even (closed form)", 0.0,
                          float(jnp.abs(q_fit - ob.lumped_student(p, r, 0.0)).max()), OPT_TOL, "optimiser slack"))
    for k in ks:
        exact_h, var, terms = ctx.simulated(f"X.6/enumeration/{k}", lambda k=k: _enumerate(p, r, k, K))
        closed = float(ob.lumped_sequence_kd_entropy(p, r, k))
        out.append(exact("X.6", f"E H(q̂_k): enumeration = binomial marginals, k={k}", closed, exact_h,
                              terms * EPS * 10 * h_star, "rounding: (summed terms) x eps"))
        out.append(Check("X.6", f"E H(q̂_k) < H(q*) (Jensen), k={k}", h_star, exact_h, 0.0, bool(exact_h < h_star),
                         "concavity of the maximum-entropy function"))
        n = SEQUENCE_KD * ctx.num_students
        sim = ctx.simulated(f"X.6/{k}/{n}", lambda k=k, n=n: np.asarray(_lumped_fit_entropy(
            uncertainty.empirical_distribution(teachers.sample_answers(ctx.key(f"X.6/{k}"), p, k=k, num_students=n), K), r)))
        out.append(compare("X.6", f"simulated E H(q̂_k) = enumeration, k={k}", exact_h, sim.mean(),
                           math.sqrt(var / n), students=n,
                           basis="SE from the exact variance of H(q̂_k)"))
    k = 200
    exact_gap = h_star - float(ob.lumped_sequence_kd_entropy(p, r, k))
    first = float(ob.lumped_sequence_kd_gap(r, k))
    lumped = ob.lump(p, r)  # the omitted term: Harris's second order on the r + 1 cells
    omitted = float(ob.cf.miller_madow_gap(lumped, k, order=2) - ob.cf.miller_madow_gap(lumped, k))
    out.append(exact("X.6", f"first order: H(q*) − E H(q̂_k) = r/(2k), r={r}, k={k}", first, exact_gap,
                          2 * abs(omitted), "2 x the second-order term (Harris 1975) on r + 1 cells"))
    return out


# --- X.7 -----------------------------------------------------------------------------------------


def check_x_7(ctx) -> list[Check]:
    out = []
    for p, r in ((PLAIN, 1), (PLAIN, 2), (HALLUCINATING, 3)):
        p = jnp.asarray(p)
        K = p.shape[0]
        label = f"{_label(p)}, r={r}"
        masses = []
        for beta in np.linspace(0.0, 1.0, 11):
            q = ob.lumped_student(p, r, beta)
            masses.append(float(jnp.sum(q[r:])))
            if round(beta, 1) in BETAS:
                fit = ctx.simulated(f"X.7/{label}/{beta:.1f}", lambda p=p, beta=beta, r=r: _fit(p, beta, r))
                out.append(exact("X.7", f"lumped student, β={beta:.1f}, {label}: closed form = fitted",
                                      0.0, float(jnp.abs(fit - q).max()), OPT_TOL, "L-BFGS on jaxkd.divergences"))
                ratio = np.asarray(fit[:r] / p[:r])
                out.append(exact("X.7", f"head ∝ teacher, β={beta:.1f}, {label}: spread of q/p on the head",
                                      0.0, ratio.max() - ratio.min(), OPT_TOL, "optimiser slack"))
        G = float(jnp.exp(jnp.mean(jnp.log(p[r:]))))
        P_head = float(jnp.sum(p[:r]))
        out.append(exact("X.7", f"forward KL keeps the teacher's tail mass, {label}", float(jnp.sum(p[r:])),
                              masses[0], 100 * EPS, "rounding"))
        out.append(exact("X.7", f"reverse KL's tail mass = (K−r)G/(P_head + (K−r)G), {label}",
                              (K - r) * G / (P_head + (K - r) * G), masses[-1], 100 * EPS, "rounding"))
        steps = np.diff(masses)
        out.append(Check("X.7", f"tail mass strictly decreasing in β (11 points), {label}", 0.0,
                         float(steps.max()), 0.0, bool(np.all(steps < 0)), "monotone in β (theorem)"))
    return out


# --- X.8, X.9 ------------------------------------------------------------------------------------

# A teacher over V = 50 tokens decaying geometrically (p_a ∝ e^{−a/5}), its tokens shuffled so
# that its top k are not the first k ids.
_DECAY = np.exp(-0.2 * np.arange(50))
TOPK_TEACHER = (_DECAY / _DECAY.sum())[np.random.default_rng(35).permutation(50)]
TOPK_KS = (1, 5, 20)
# What one compiled program trains side by side, per student one of these (kind, β, form) of
# jaxkd.llm.topk.divergence: X.8's three objectives on the bucket, X.9's two finite ones.
TOPK_OBJECTIVES = (("forward_kl", 0.0, "bucket"), ("jsd", 0.5, "bucket"), ("reverse_kl", 1.0, "bucket"),
                   ("forward_kl", 0.0, "renormalised"), ("jsd", 0.5, "renormalised"))
TOPK_STEPS = 2000
TOPK_RANDOM = 8  # students from random logits z ~ N(0, 1) per bucket objective
# Learning rates: Adam on the bucket 0.1, decaying to 0.001 (it converges to float32 rounding of
# the teacher); Adam on the renormalised teacher 0.3 throughout (its tail never stops falling);
# gradient descent 5 (stable: the cells' curvature is at most 1/4).
ADAM_BUCKET, ADAM_RENORMALISED, GD = (0.1, 0.01), (0.3, 1.0), (5.0, 1.0)  # (rate, its decay over the steps)


@functools.partial(jax.jit, static_argnums=(0,))
def _topk_students(k: int, log_p, tail, z0, objective, gd, lr, decay):
    """Free students trained on ``jaxkd.llm.topk.divergence`` against the teacher ``log_p`` (V,)
    truncated to its top k by ``jaxkd.llm.topk.truncate``, one per row of ``z0`` (n, V):
    ``objective`` (n,) indexes :data:`TOPK_OBJECTIVES`, ``gd`` (n,) gradient descent in place of
    Adam (``optax.scale_by_adam``, moments from zero), at the rate ``lr × decay^(step/TOPK_STEPS)``
    (n,). ``tail`` (V,) marks the V − k tokens outside p's top k (from p, not from the engine).

    Returns the final logits (n, V) and gradients (n, V) (at rate 0: the gradient at ``z0``); per
    student, over the steps, the largest rise of a tail logit in one step and the largest spread
    (max − min) of the tail logits (n,); and at the final logits the values of reverse KL and of
    JSD(1) against the renormalised teacher (n, 2).
    """
    # Imported on use: jaxkd.llm needs the llm extra, the rest of the theory does not.
    from jaxkd.llm import topk

    ids, logprobs, tail_logmass = topk.truncate(log_p, k)
    # truncate computes in float32; the students' cells are float64
    logprobs, tail_logmass = logprobs.astype(log_p.dtype), tail_logmass.astype(log_p.dtype)

    def divergence(z, kind, beta, form):
        return topk.divergence(z, ids, logprobs, tail_logmass, kind=kind, beta=beta, form=form)

    def loss(z, objective):  # the one objective of its one-hot weight (all five are finite)
        weights = jax.nn.one_hot(objective, len(TOPK_OBJECTIVES), dtype=z.dtype)
        return sum(w * divergence(z, *o) for w, o in zip(weights, TOPK_OBJECTIVES))

    adam = optax.scale_by_adam()

    def train(z, objective, gd, lr, decay):
        def step(carry, t):  # step TOPK_STEPS only takes the final gradient
            z, state, _ = carry
            g = jax.grad(loss)(z, objective)
            direction, state = adam.update(g, state)
            new = jnp.where(t < TOPK_STEPS, z - lr * decay ** (t / TOPK_STEPS) * jnp.where(gd, g, direction), z)
            rise = jnp.max(jnp.where(tail & (t < TOPK_STEPS), new - z, -jnp.inf))
            spread = jnp.max(jnp.where(tail, new, -jnp.inf)) - jnp.min(jnp.where(tail, new, jnp.inf))
            return (new, state, g), (rise, spread)

        (z, _, g), (rise, spread) = jax.lax.scan(step, (z, adam.init(z), z), jnp.arange(TOPK_STEPS + 1))
        return z, g, jnp.max(rise), jnp.max(spread)

    with jax.numpy_dtype_promotion("standard"):  # optax's int32 counters, as in ensemble
        z, g, rise, spread = jax.vmap(train)(z0, objective, gd, lr, decay)
    infinite = jax.vmap(lambda z: jnp.stack([divergence(z, "reverse_kl", 1.0, "renormalised"),
                                             divergence(z, "jsd", 1.0, "renormalised")]))(z)
    return z, g, rise, spread, infinite


def _topk_simulation(key, k: int) -> dict:
    """X.8's and X.9's students for the teacher :data:`TOPK_TEACHER` truncated to its top k: their
    starting logits ``"z0"`` and objectives, what :func:`_topk_students` returns, and which rows are
    which: ``"uniform"`` (Adam, objectives 0-2, a tail of equal logits: N(0, 1) on the head, one
    N(0, 1) value on the tail), ``"gd"`` (gradient descent, forward KL, from such a start),
    ``"random"`` (objective -> its :data:`TOPK_RANDOM` rows, Adam from z ~ N(0, 1)),
    ``"renormalised"`` (Adam, objectives 3-4, z ~ N(0, 1)) and ``"probe"`` (objective -> its row at
    rate 0, one shared z ~ N(0, 1): its gradient there)."""
    p = TOPK_TEACHER
    V = p.size
    tail = np.ones(V, bool)
    tail[np.argsort(-p, kind="stable")[:k]] = False
    k_head, k_tail, k_random, k_probe = jax.random.split(key, 4)
    uniform = np.where(tail, _gaussian(k_tail, (4, 1)), _gaussian(k_head, (4, V)))
    random = _gaussian(k_random, (3 * TOPK_RANDOM + 2, V))
    probe = np.repeat(_gaussian(k_probe, (1, V)), len(TOPK_OBJECTIVES), axis=0)
    objective = np.array([0, 1, 2, 0] + [j for j in range(3) for _ in range(TOPK_RANDOM)] + [3, 4]
                         + list(range(len(TOPK_OBJECTIVES))))
    n = objective.size
    gd = np.arange(n) == 3
    rate = np.where(gd[:, None], GD, np.where(objective[:, None] >= 3, ADAM_RENORMALISED, ADAM_BUCKET))  # (n, 2)
    rate[-len(TOPK_OBJECTIVES):, 0] = 0.0
    z0 = np.concatenate([uniform, random, probe])
    z, grad, rise, spread, infinite = (np.asarray(x) for x in _topk_students(
        k, jnp.log(jnp.asarray(p)), jnp.asarray(tail), jnp.asarray(z0), jnp.asarray(objective), jnp.asarray(gd),
        jnp.asarray(rate[:, 0]), jnp.asarray(rate[:, 1])))
    return {"tail": tail, "objective": objective, "z0": z0, "z": z, "grad": grad, "rise": rise, "spread": spread,
            "infinite": infinite,
            "uniform": (0, 1, 2), "gd": 3, "random": 4 + np.arange(3 * TOPK_RANDOM).reshape(3, TOPK_RANDOM),
            "renormalised": (4 + 3 * TOPK_RANDOM, 5 + 3 * TOPK_RANDOM),
            "probe": n - len(TOPK_OBJECTIVES) + np.arange(len(TOPK_OBJECTIVES))}


def _gaussian(key, shape) -> np.ndarray:
    return np.asarray(jax.random.normal(key, shape, jnp.float64))


def _softmax(z) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _entropy(q) -> np.ndarray:
    return entr(q).sum(axis=-1)


def _truncation_rounding(p) -> float:
    """A bound on the float32 rounding of the truncated teacher's cells (``jaxkd.llm.topk.truncate``
    computes in float32, 2^-24 relative): each log-probability of magnitude up to max |log p|, and
    the log-sum-exps over at most V tokens; as a relative bound on each cell and an ℓ1 bound on them."""
    return 2.0 * (p.size + np.abs(np.log(p)).max()) * 2.0 ** -24


def _curvature(beta: float) -> float:
    """f''(1) of JSD(β) (TRL's β): near its minimum each objective is ``f''(1)/2 χ²``, so a student
    whose gradient in its cell logits is g lies about ``‖g‖₁/f''(1)`` from the minimum in ℓ1
    (exactly ‖g‖₁ for forward KL, whose gradient is ``Q − P``)."""
    return 1.0 if beta in (0.0, 1.0) else beta * (1.0 - beta)


def _objective(kind: str, beta: float) -> str:
    return {"forward_kl": "forward KL", "reverse_kl": "reverse KL"}.get(kind, f"JSD({beta})")


def _tail_gradient_check(result, sim, j: int, k: int, case: str, rho: float) -> Check:
    """(a): at the probe logits, ``∂L/∂z_a = q_a c`` on every tail token with the closed form's c."""
    _, beta, form = TOPK_OBJECTIVES[j]
    i = sim["probe"][j]
    tail, q = sim["tail"], _softmax(sim["z0"][i])
    c = float(ob.topk_tail_factor(TOPK_TEACHER, q, k, beta, form))
    deviation = np.abs(sim["grad"][i][tail] / q[tail] - c).max()
    return exact(result, f"{case}: ∂L/∂z_a = q_a c on every tail token, max |∂L/∂z_a / q_a − c|", 0.0,
                 deviation,
                 rho * (2.0 + 1.0 / q[tail].sum()) + 100 * EPS * (1.0 + abs(c)),
                 "float32 rounding of the truncated teacher: |δc| <= ρ (2 + P_T/Q_T)")


def check_x_8(ctx, ks=TOPK_KS) -> list[Check]:
    out = []
    p = TOPK_TEACHER
    V, h_p, rho = p.size, float(_entropy(p)), _truncation_rounding(p)
    for k in ks:
        sim = ctx.simulated(f"X.8-X.9/k={k}", lambda k=k: _topk_simulation(ctx.key(f"X.8-X.9/k={k}"), k))
        tail, z = sim["tail"], sim["z"]
        q_all = _softmax(z)
        curvature = np.array([_curvature(o[1]) for o in TOPK_OBJECTIVES])[sim["objective"]]
        # Per student: the ℓ1 distance of its cells from the minimum's, at most, and what it moves the
        # entropy by (|δH| <= Σ |δq_a| |log q_a + 1|, and |δQ_T| log(V − k)).
        slack = 2.0 * np.abs(sim["grad"]).sum(-1) / curvature + rho
        entropy_allowance = slack * (1.0 + np.abs(np.log(q_all)).max(-1) + math.log(V))
        q_star = np.asarray(ob.topk_bucket_student(p, k))
        excess = float(ob.topk_bucket_entropy_excess(p, k))
        for j, (kind, beta, _) in enumerate(TOPK_OBJECTIVES[:3]):
            case = f"{_objective(kind, beta)}, V={V}, k={k}"
            out.append(_tail_gradient_check("X.8", sim, j, k, case, rho))
            i = sim["uniform"][j]
            out.append(exact("X.8", f"{case}, Adam from a uniform tail: max |q − q*|", 0.0,
                             np.abs(q_all[i] - q_star).max(), slack[i],
                             "2‖∇L‖₁/f''(1) at the end + float32 rounding of the truncation"))
            out.append(exact("X.8", f"{case}, Adam from a uniform tail: tail logits equal at every step (max spread)",
                             0.0, sim["spread"][i], 4 * EPS * np.abs(z[i]).max(), "rounding"))
            out.append(exact("X.8", f"{case}, Adam from a uniform tail: H(q) − H(p) = r (log(V − k) − H(p_T/r))",
                             excess, float(_entropy(q_all[i])) - h_p, entropy_allowance[i],
                             "the cells' slack x (1 + max |log q| + log V)"))
            rows = sim["random"][j]
            qs = q_all[rows]
            # ℓ1 distance of each student's cells (q_S, Q_T) from the closed form's
            cells_error = (np.abs(qs[:, ~tail] - q_star[~tail]).sum(-1)
                           + np.abs(qs[:, tail].sum(-1) - q_star[tail].sum()))
            out.append(exact("X.8", f"{case}, Adam from z ~ N(0, 1), {rows.size} students: "
                             "max ℓ1 |cells − (p_S, r)|", 0.0, cells_error.max(), slack[rows].max(),
                             "2‖∇L‖₁/f''(1) at the end + float32 rounding (the largest over students)"))
            gaps = _entropy(qs) - h_p
            shapes = np.where(tail, qs, 0.0) / qs[:, tail].sum(-1, keepdims=True)
            out.append(exact("X.8", f"{case}, Adam from z ~ N(0, 1): H(q) − H(p) = r (H(u) − H(p_T/r)), u the "
                             "student's tail shape, max deviation", 0.0,
                             np.abs(gaps - np.asarray(ob.topk_bucket_entropy_excess(p, k, shapes))).max(),
                             entropy_allowance[rows].max(), "the cells' slack x (1 + max |log q| + log V)"))
            out.append(below("X.8", f"{case}, Adam from z ~ N(0, 1): largest H(q) − H(p) < the uniform tail's",
                             excess, gaps.max(), "H(u) < log(V − k) for a non-uniform tail"))
        i = sim["gd"]
        case = f"forward KL, V={V}, k={k}, gradient descent from a uniform tail"
        out.append(exact("X.8", f"{case}: max |q − q*|", 0.0, np.abs(q_all[i] - q_star).max(), slack[i],
                         "2‖∇L‖₁ at the end + float32 rounding of the truncation"))
        out.append(exact("X.8", f"{case}: tail logits equal at every step (max spread)", 0.0, sim["spread"][i],
                         4 * EPS * np.abs(z[i]).max(), "rounding"))
    return out


def check_x_9(ctx, ks=TOPK_KS) -> list[Check]:
    out = []
    p = TOPK_TEACHER
    V, h_p, rho = p.size, float(_entropy(p)), _truncation_rounding(p)
    for k in ks:
        sim = ctx.simulated(f"X.8-X.9/k={k}", lambda k=k: _topk_simulation(ctx.key(f"X.8-X.9/k={k}"), k))
        tail = sim["tail"]
        r = p[tail].sum()
        limit = float(ob.renormalised_topk_entropy(p, k))
        gap = float(ob.renormalised_topk_gap(p, k))
        for j, i in zip((3, 4), sim["renormalised"]):
            kind, beta, _ = TOPK_OBJECTIVES[j]
            case = f"{_objective(kind, beta)} to the renormalised top k, V={V}, k={k}"
            out.append(_tail_gradient_check("X.9", sim, j, k, case, rho))
            q = _softmax(sim["z"][i])
            Q_T = q[tail].sum()
            out.append(below("X.9", f"{case}: every tail logit falls at every Adam step (largest rise)", 0.0,
                             sim["rise"][i], "the tail's gradient q_a c, c > 0"))
            out.append(below("X.9", f"{case}: tail mass after {TOPK_STEPS} Adam steps < r/100", r / 100, Q_T,
                             "infimum only as Q_T -> 0 (the bucket's student keeps r)"))
            # H(q) = h(Q_T) + (1 − Q_T) H(q̃_S) + Q_T H(u): the tail's part, and the head's error
            # (the head gradient, as in X.8's slack, plus Q_T from q_S to q̃_S).
            head = q[~tail] / (1.0 - Q_T)
            bound = (entr(Q_T) + entr(1.0 - Q_T) + Q_T * math.log(V)
                     + (2.0 * np.abs(sim["grad"][i][~tail]).sum() / _curvature(beta) + 2.0 * Q_T + rho)
                     * (1.0 + np.abs(np.log(head)).max()))
            basis = "h(Q_T) + Q_T log V + the head's slack x (1 + max |log q̃_S|), all measured"
            out.append(exact("X.9", f"{case}: H(q) = H(p̃_S)", limit, float(_entropy(q)), bound, basis))
            out.append(exact("X.9", f"{case}: H(q) − H(p) = r H(p̃_S) − h(r) − r H(p_T/r)", gap,
                             float(_entropy(q)) - h_p, bound, basis))
        for (kind, beta), values in zip((("reverse_kl", 1.0), ("jsd", 1.0)), sim["infinite"].T):
            out.append(exact("X.9", f"{_objective(kind, beta)} to the renormalised top k, k={k}, every student "
                             f"({values.size}, trained or not): L = +inf, max 1/L", 0.0,
                             (1.0 / values).max() if values.all() else math.inf, 0.0, "exact"))
    return out


VERIFIERS = {"X.4": check_x_4, "X.5": check_x_5, "X.6": check_x_6, "X.7": check_x_7}
if not _extras.missing("llm"):  # X.8 and X.9 train on jaxkd.llm.topk, which needs the llm extra
    VERIFIERS |= {"X.8": check_x_8, "X.9": check_x_9}
