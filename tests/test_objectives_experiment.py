"""The objectives experiment (issue 23's tabular analogue): expected calibration error, the
objective axis (each stacked student equals one trained alone with that objective), the claims'
verdicts on constructed results (each can come out every way), config validation and a tiny run."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxkd import divergences, uncertainty
from jaxkd import document as doc
from jaxkd.data import load_dataset, split
from experiment_modules import face
ob = face("objectives")
from jaxkd.runs import to_jsonable
from jaxkd.students import ensemble, mlp

# --- expected calibration error ---------------------------------------------------------------


def test_ece_hand_cases():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]])
    # Bins of width 0.1: 0.9 -> (0.8, 0.9], 0.6 -> (0.5, 0.6], 0.8 -> (0.7, 0.8]; one example each.
    assert float(uncertainty.expected_calibration_error(probs, np.array([0, 0, 0]), 10)) == pytest.approx(
        (0.1 + 0.6 + 0.2) / 3)
    # Two examples in one bin: |(1 + 0) - (0.75 + 0.72)| / 2; batched over a leading axis.
    two = np.array([[[0.75, 0.25], [0.72, 0.28]], [[0.55, 0.45], [0.95, 0.05]]])
    np.testing.assert_allclose(uncertainty.expected_calibration_error(two, np.array([0, 1]), 10),
                               [0.235, (0.45 + 0.95) / 2], rtol=1e-6)
    # 0.62 and 0.68 share the bin (0.6, 0.7] only with 10 bins: errors of opposite sign cancel.
    near = np.array([[0.62, 0.38], [0.68, 0.32]])
    assert float(uncertainty.expected_calibration_error(near, np.array([0, 1]), 10)) == pytest.approx(0.15)
    assert float(uncertainty.expected_calibration_error(near, np.array([0, 1]), 20)) == pytest.approx(0.53)


def test_ece_sees_miscalibration():
    r = np.random.default_rng(0)
    conf = r.uniform(0.5, 1.0, 20000)
    probs = np.stack([conf, 1 - conf], -1)
    calibrated = (r.uniform(size=conf.size) > conf).astype(int)        # right with probability conf
    overconfident = (r.uniform(size=conf.size) > conf - 0.1).astype(int)  # right 10 points less often
    assert float(uncertainty.expected_calibration_error(probs, calibrated)) < 0.02
    assert float(uncertainty.expected_calibration_error(probs, overconfident)) == pytest.approx(0.1, abs=0.02)


# --- the objective axis -------------------------------------------------------------------------


def _alone_reverse(model, x, y):
    return divergences.reverse_kl(model(x), y, temperature=2.0)


def _alone_jsd(model, x, y):
    return divergences.generalized_jsd(model(x), y, 0.5, temperature=2.0)


def _alone_ce(model, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y)


def test_each_stacked_student_is_its_objective_alone():
    """Students trained together (one program, β and T carried by the targets) equal students
    trained one objective at a time with jaxkd.divergences' named functions, and the hard-label
    student equals the study's cross-entropy student on argmax labels."""
    sp = split(load_dataset("wine"))
    X = jnp.asarray(sp.X_train, jnp.float32)
    teacher = jnp.asarray(np.random.default_rng(0).normal(size=(2, X.shape[0], 3)) * 2, jnp.float32)
    cfg = ob.Config.from_preset("quick", datasets=("wine",), temperature=2.0, betas=(0.5,), num_seeds=2)
    objectives = cfg.objectives()
    assert [o[0] for o in objectives] == ["hard labels", "forward KL", "JSD(0.5)", "reverse KL"]
    keys = jax.random.split(jax.random.key(3), 2)
    widths = (X.shape[1], 8, 3)
    graphdef, states, _ = ob.distil(widths, X, teacher, objectives, keys, learning_rate=0.01, epochs=30)
    together = ensemble.predict(graphdef, states, X).reshape(len(objectives), 2, X.shape[0], 3)
    opt = optax.adam(0.01)
    for o, loss, target in ((0, _alone_ce, jnp.argmax(teacher, -1)), (2, _alone_jsd, teacher),
                            (3, _alone_reverse, teacher)):
        g, s = ensemble.init(lambda rngs: mlp.MLP(widths, rngs=rngs), keys)
        s = ensemble.train(g, s, loss, X, target, optimizer=opt, epochs=30)
        np.testing.assert_allclose(ensemble.predict(g, s, X), together[o], rtol=2e-4, atol=2e-4)


# --- claims: constructed results, every verdict reachable ------------------------------------


def _results(student_shift, noise=0.002, seeds=10, teacher_level=0.5):
    """Results with one cell whose per-seed student entropies are the teacher's plus
    ``student_shift[o]`` plus noise."""
    r = np.random.default_rng(1)
    cfg = ob.Config.from_preset("quick", datasets=("wine",), models=("logistic",))
    O = len(cfg.objectives())
    h_t = teacher_level + 0.05 * r.normal(size=seeds)
    h_s = h_t[None] + np.asarray(student_shift, float)[:, None] + noise * r.normal(size=(O, seeds))
    seeds_vec, obj = np.zeros(seeds), np.zeros((O, seeds))
    fields = {f.name: (obj if f.name.startswith("student") else seeds_vec) for f in dataclasses.fields(ob.Cell)}
    fields |= {"num_classes": 3, "train_size": 100, "test_size": 30, "teacher_entropy_all": h_t,
               "student_entropy_all": h_s}
    return ob.Results(config=cfg, runs={"wine-logistic": ob._cell(to_jsonable(fields))})


def _two_cells(first, second):
    a, b = _results(first), _results(second)
    return ob.Results(config=a.config, runs={"wine-logistic": a.runs["wine-logistic"],
                                             "wine-mlp": b.runs["wine-logistic"]})


def _statuses(res):
    return {c.key: c.evaluate({"objectives-all": res}).status for c in ob.CLAIMS}


def test_claims_reach_every_verdict():
    # Objectives: hard, forward KL, JSD(0.1), JSD(0.5), JSD(0.9), reverse KL.
    as_predicted = _statuses(_results([-0.2, 0.0, -0.02, -0.04, -0.06, -0.08]))
    assert as_predicted == {k: "reproduced" for k in as_predicted}
    opposite = _statuses(_results([0.2, 0.3, 0.32, 0.34, 0.36, 0.38]))
    assert opposite == {k: "not reproduced" for k in opposite}
    unclear = _statuses(_results([0.0, 0.1, 0.1, 0.1, 0.1, 0.0], noise=0.3))
    assert unclear == {k: "inconclusive" for k in unclear}
    # One cell as predicted, one opposite: every claim needs every cell, so none is reproduced.
    mixed = _statuses(_two_cells([-0.2, 0.0, -0.02, -0.04, -0.06, -0.08], [0.2, 0.3, 0.32, 0.34, 0.36, 0.38]))
    assert mixed == {k: "not reproduced" for k in mixed}


def test_config_validation():
    for overrides, match in (({"betas": (0.0, 0.5)}, "strictly between"), ({"betas": (0.5, 0.1)}, "increasing"),
                             ({"num_seeds": 1}, "at least 2"), ({"datasets": ("boston",)}, "regression set"),
                             ({"model": "gpt2"}, "model for objectives"), ({"temperature": 0.0}, "positive")):
        with pytest.raises(ValueError, match=match):
            ob.Config.from_preset("quick", **overrides)


def test_tiny_run_reports_and_judges():
    cfg = ob.Config.from_preset("quick", datasets=("wine",), epochs=10, num_seeds=2)
    res = ob.run(cfg)
    cell = res.runs["wine-mlp"]
    assert np.asarray(cell.student_entropy_all).shape == (6, 2) and len(cell.teacher_accuracy) == 2
    again = ob.Results.from_json(cfg, to_jsonable(res))
    assert again == ob.Results.from_json(cfg, to_jsonable(again))
    text = doc.to_markdown(ob.document(res))
    for label in ("teacher", "hard labels", "forward KL", "JSD(0.1)", "JSD(0.9)", "reverse KL", "remainder"):
        assert label in text
    assert set(ob.figures(res)) == {"entropy_gap.png"}
    for claim in ob.CLAIMS:
        assert claim.evaluate({"objectives-all": res}).status in ("reproduced", "not reproduced", "inconclusive")


def test_t_interval():
    est, lo, hi, count = ob.t_interval([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])  # NaN (an empty group) is left out
    half = 2.7764451051977987 * np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5)  # t(0.975, 4 df)
    assert (est, count) == (3.0, 5) and lo == pytest.approx(3 - half) and hi == pytest.approx(3 + half)
    assert np.isnan(ob.t_interval([1.0])[1])


def test_too_many_seeds_is_refused_before_training():
    cfg = ob.Config.from_preset("quick", datasets=("digits",), num_seeds=10**9)
    with pytest.raises(ValueError, match="lower --seeds"):
        ob.run(cfg)
