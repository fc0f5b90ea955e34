"""Verification of X.4-X.7 (distillation objectives on categorical students) through jaxkd's
own code: students are fitted by minimising ``jaxkd.divergences`` (optax L-BFGS for the small
categorical families, ``jaxkd.students.ensemble`` with Adam for network students), answers are
sampled by ``jaxkd.teachers.sample_answers``; the closed forms come from ``jaxkd.theory.objectives``.

Each ``check_x_*`` takes the :class:`jaxkd.theory.verify.Context` that ``jaxkd.theory.verify.verify`` builds
(only ``ctx.key``, ``ctx.simulated`` and ``ctx.num_students`` are used) and returns a list of
:class:`jaxkd.theory.checks.Check`; ``VERIFIERS`` maps each identifier to its function;
``jaxkd.theory.verify.VERIFIERS`` includes them (this module imports nothing of ``verify``).
Run under ``jax.enable_x64(True)`` as ``verify`` does.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from scipy.special import gammaln

from jaxkd import divergences, teachers, uncertainty
from jaxkd.students import ensemble, mlp
from jaxkd.theory import objectives as ob
from jaxkd.theory.checks import EPS, Check, compare, exact

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


VERIFIERS = {"X.4": check_x_4, "X.5": check_x_5, "X.6": check_x_6, "X.7": check_x_7}
