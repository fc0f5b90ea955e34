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
    graphdef, states, _, _ = ob.distil(widths, X, teacher, objectives, keys, learning_rate=0.01, epochs=30)
    together = ensemble.predict(graphdef, states, X).reshape(len(objectives), 2, X.shape[0], 3)
    opt = optax.adam(0.01)
    for o, loss, target in ((0, _alone_ce, jnp.argmax(teacher, -1)), (2, _alone_jsd, teacher),
                            (3, _alone_reverse, teacher)):
        g, s = ensemble.init(lambda rngs: mlp.MLP(widths, rngs=rngs), keys)
        s = ensemble.train(g, s, loss, X, target, optimizer=opt, epochs=30)
        np.testing.assert_allclose(ensemble.predict(g, s, X), together[o], rtol=2e-4, atol=2e-4)


# --- claims: constructed results, every verdict reachable ------------------------------------


def _results(student_shift, noise=0.002, seeds=10, teacher_level=0.5, key="wine-mlp", remainder=0.0):
    """Results with one cell whose per-seed student entropies are the teacher's plus
    ``student_shift[o]`` plus noise; the forward-KL students' X.5 remainder (training-set entropy
    gap minus residual KL) is ``remainder`` on every seed (0: stationary)."""
    r = np.random.default_rng(1)
    cfg = ob.Config.from_preset("quick", datasets=("wine",), models=("logistic", "mlp"))
    O = len(cfg.objectives())
    h_t = teacher_level + 0.05 * r.normal(size=seeds)
    h_s = h_t[None] + np.asarray(student_shift, float)[:, None] + noise * r.normal(size=(O, seeds))
    seeds_vec, obj = np.zeros(seeds), np.zeros((O, seeds))
    fields = {f.name: (obj if f.name.startswith("student") else seeds_vec) for f in dataclasses.fields(ob.Cell)}
    gap = np.zeros((O, seeds))
    gap[1] = remainder
    fields |= {"num_classes": 3, "train_size": 100, "test_size": 30, "teacher_entropy_all": h_t,
               "student_entropy_all": h_s, "student_train_entropy_gap": gap}
    return ob.Results(config=cfg, runs={key: ob._cell(to_jsonable(fields))})


def _cells(*results):
    return ob.Results(config=results[0].config, runs={k: c for r in results for k, c in r.runs.items()})


def _statuses(res):
    return {c.key: c.evaluate({"objectives-all": res}).status for c in ob.CLAIMS}


# Objectives: hard, forward KL, JSD(0.1), JSD(0.5), JSD(0.9), reverse KL.
PREDICTED = [-0.2, 0.0, -0.02, -0.04, -0.06, -0.08]     # a restricted student, as the theory says
OPPOSITE = [0.2, 0.3, 0.32, 0.34, 0.36, 0.38]


def test_claims_reach_every_verdict():
    as_predicted = _statuses(_results(PREDICTED))
    assert as_predicted == {k: "reproduced" for k in as_predicted}
    opposite = _statuses(_results(OPPOSITE, remainder=0.05))
    assert opposite == {**{k: "not reproduced" for k in opposite}, "objectives-forward": "inconclusive (regime)",
                        "objectives-reverse": "inconclusive (regime)", "objectives-jsd": "inconclusive (regime)"}
    assert _statuses(_results(OPPOSITE)) == {**{k: "not reproduced" for k in opposite}, "objectives-x5": "reproduced"}
    unclear = _statuses(_results([0.0, 0.1, 0.1, 0.1, 0.1, 0.0], noise=0.3))
    assert {k: v for k, v in unclear.items() if k != "objectives-x5"} == \
        {k: "inconclusive" for k in unclear if k != "objectives-x5"}
    # One cell as predicted, one opposite: every claim needs every cell, so none is reproduced.
    mixed = _statuses(_cells(_results(PREDICTED), _results(OPPOSITE, key="digits-mlp")))
    assert {k: v for k, v in mixed.items() if k != "objectives-x5"} == \
        {k: "not reproduced" for k in mixed if k != "objectives-x5"}


def test_students_that_can_represent_their_teacher_are_judged_equal_not_narrower():
    """X.4: a logistic student of a logistic teacher reaches it under every objective, so reverse KL
    and JSD(β) must equal forward KL there (within the margin); strictly narrower is what the
    restricted (MLP) students are judged on."""
    equal = [-0.2, 0.0, 0.0, 0.0, 0.0, 0.0]
    found = _statuses(_results(equal, key="wine-logistic"))
    assert found["objectives-reverse"] == found["objectives-jsd"] == "reproduced"
    # The same numbers for restricted students: no narrowing shown, so not reproduced there.
    restricted = _statuses(_results(equal, noise=0.02))
    assert restricted["objectives-reverse"] == "inconclusive" and restricted["objectives-jsd"] == "inconclusive"
    # A representable student that reverse KL narrows beyond the margin contradicts X.4.
    narrowed = _statuses(_results([-0.2, 0.0, -0.3, -0.6, -0.9, -1.2], teacher_level=1.0, key="wine-logistic"))
    assert narrowed["objectives-reverse"] == narrowed["objectives-jsd"] == "not reproduced"


def test_not_stationary_students_decide_nothing_the_theory_predicts_at_stationarity():
    res = _results(PREDICTED, remainder=0.05)  # X.5's remainder 0.05 against 10% of a 0.125 margin
    found = {c.key: c.evaluate({"objectives-all": res}) for c in ob.CLAIMS}
    assert found["objectives-x5"].status == "not reproduced"
    for key in ("objectives-forward", "objectives-reverse", "objectives-jsd"):
        assert found[key].status == "inconclusive (regime)" and "not stationary" in found[key].evidence
    assert found["objectives-hard"].status == "reproduced"  # hard labels have no stationary point to wait for
    assert _statuses(_results(PREDICTED, remainder=0.01))["objectives-forward"] == "reproduced"  # within 10%


def test_students_on_a_fixed_budget_decide_no_prediction_made_at_stationarity():
    res = _results(PREDICTED)
    fixed = ob.Results(config=dataclasses.replace(res.config, stopping_tol=None), runs=res.runs)
    found = {c.key: c.evaluate({"objectives-all": fixed}) for c in ob.CLAIMS}
    for key in ("objectives-x5", "objectives-forward", "objectives-reverse", "objectives-jsd"):
        assert found[key].status == "inconclusive (regime)" and "fixed" in found[key].evidence
    assert found["objectives-hard"].status == "reproduced"


def test_hard_label_students_train_their_fixed_budget_beside_the_stopping_rule():
    """The hard-label students (objective 0) train ``hard_epochs`` exactly, bitwise as without a
    rule; the others stop by the rule."""
    r = np.random.default_rng(0)
    X = jnp.asarray(r.normal(size=(40, 4)), jnp.float32)
    teacher = jnp.asarray(r.normal(size=(2, 40, 3)), jnp.float32)
    cfg = ob.Config.from_preset("quick", betas=(0.5,))
    objectives = cfg.objectives()
    keys = jax.random.split(jax.random.key(0), 2)
    rule = ensemble.Stopping(tol=1e-3, window=5)
    g, st, _, conv = ob.distil((4, 3), X, teacher, objectives, keys, learning_rate=0.01, epochs=200,
                               stopping=rule, hard_epochs=30)
    g0, st0, _, none = ob.distil((4, 3), X, teacher, objectives, keys, learning_rate=0.01, epochs=30)
    assert none is None
    assert np.array_equal(np.asarray(conv.steps)[:2], [30, 30]) and not np.asarray(conv.converged)[:2].any()
    a, b = (ensemble.predict(gd, s, X)[:2] for gd, s in ((g, st), (g0, st0)))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.all(np.asarray(conv.steps)[2:] <= 200) and np.asarray(conv.converged)[2:].any()


def test_many_cells_are_read_at_the_bonferroni_level_and_undecided_ones_state_their_seeds():
    one = ob.CLAIMS[2].judge(_results(PREDICTED))  # objectives-hard
    assert "95% level (Bonferroni over 1)" in one.evidence
    # A narrowing whose 95% interval excludes 0 but whose 99.17% interval (6 cells) does not: the
    # noise realised by _results, then a shift between the two half-widths.
    zero = -ob.entropy_gap(_results([0.0] * 6, noise=0.004).runs["wine-mlp"], 0)
    m, lo95 = ob.t_interval(zero)[:2]
    lo_bonf = ob.t_interval(zero, 1 - 0.05 / 6)[1]
    shift = [m - ((m - lo95) + (m - lo_bonf)) / 2, 0.0, -0.02, -0.04, -0.06, -0.08]
    single = _results(shift, noise=0.004)
    assert ob.CLAIMS[2].evaluate({"objectives-all": single}).status == "reproduced"
    six = _cells(*(_results(shift, noise=0.004, key=f"{d}-mlp") for d in ("a", "b", "c", "d", "e", "f")))
    found = ob.CLAIMS[2].evaluate({"objectives-all": six})
    assert found.status == "inconclusive" and "Bonferroni over 6" in found.evidence
    assert "seeds at 80% power" in found.evidence
def test_config_validation():
    for overrides, match in (({"betas": (0.0, 0.5)}, "strictly between"), ({"betas": (0.5, 0.1)}, "increasing"),
                             ({"num_seeds": 1}, "at least 2"), ({"datasets": ("boston",)}, "regression set"),
                             ({"model": "gpt2"}, "model for objectives"), ({"temperature": 0.0}, "positive")):
        with pytest.raises(ValueError, match=match):
            ob.Config.from_preset("quick", **overrides)


def test_tiny_run_reports_and_judges():
    cfg = ob.Config.from_preset("quick", datasets=("wine",), epochs=10, student_epochs=60, hard_epochs=20,
                                num_seeds=2, stopping_tol=1e-3)
    res = ob.run(cfg)
    cell = res.runs["wine-mlp"]
    assert np.asarray(cell.student_entropy_all).shape == (6, 2) and len(cell.teacher_accuracy) == 2
    steps = np.asarray(cell.student_steps)
    assert steps.shape == (6, 2) and 0 < steps.min() and steps.max() <= 60 and np.all(steps[0] == 20)
    # On the rule, stopped before the cap <=> converged; the hard-label students' fixed budget is not.
    assert np.array_equal(np.asarray(cell.student_converged)[1:], steps[1:] < 60)
    assert not np.asarray(cell.student_converged)[0].any()
    again = ob.Results.from_json(cfg, to_jsonable(res))
    assert again == ob.Results.from_json(cfg, to_jsonable(again))
    text = doc.to_markdown(ob.document(res))
    for label in ("teacher", "hard labels", "forward KL", "JSD(0.1)", "JSD(0.9)", "reverse KL", "remainder",
                  "How far the wine-mlp students trained", "(cap)"):
        assert label in text
    assert set(ob.figures(res)) == {"entropy_gap.png"}
    for claim in ob.CLAIMS:
        assert claim.evaluate({"objectives-all": res}).status in ("reproduced", "not reproduced", "inconclusive",
                                                                  "inconclusive (regime)")


def test_t_interval():
    est, lo, hi, count = ob.t_interval([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])  # NaN (an empty group) is left out
    half = 2.7764451051977987 * np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5)  # t(0.975, 4 df)
    assert (est, count) == (3.0, 5) and lo == pytest.approx(3 - half) and hi == pytest.approx(3 + half)
    assert np.isnan(ob.t_interval([1.0])[1])


def test_too_many_seeds_is_refused_before_training():
    cfg = ob.Config.from_preset("quick", datasets=("digits",), num_seeds=10**9)
    with pytest.raises(ValueError, match="lower --seeds"):
        ob.run(cfg)
