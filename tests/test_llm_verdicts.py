"""What the language-model verdicts rest on: entropy on valid answers, the per-row hallucination
gate, llm-init's matched comparator, the study-signed systematic noise and the alignment control."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from jaxkd.experiments.llm_init import claims as init_claims
from jaxkd.experiments.llm_init import run as init_run
from jaxkd.experiments.llm_init.config import Config as InitConfig
from jaxkd.experiments.llm_study import measures, stats
from jaxkd.llm import metrics


def test_valid_answer_entropy_leaves_hallucinations_out():
    # Half hallucinated, the rest one answer: the lumped entropy is a fair coin's, the valid one 0.
    labels = [0, 0, -1, -1]
    assert metrics.answer_entropy(labels, 3) == pytest.approx(np.log(2))
    assert metrics.valid_answer_entropy(labels, 3) == 0.0
    assert metrics.valid_answer_entropy([0, 1, 2, -1], 3) == pytest.approx(np.log(3))
    assert np.isnan(metrics.valid_answer_entropy([-1, -1], 3))


def test_student_mean_leaves_out_students_without_valid_answers():
    x = measures._student_mean([[0.5, np.nan], [0.7, np.nan], [np.nan, np.nan]])
    assert x[0] == pytest.approx(0.6) and np.isnan(x[1])


def _rows(hall, target, single_answer=False):
    """Results-like rows: replicate hallucination shares of students and of their targets."""
    return SimpleNamespace(label=tuple(f"row {i}" for i in range(len(hall))), hallucination=hall,
                           target_hallucination=target, single_answer=single_answer,
                           regime_teacher_hallucination=(0.05, 0.05), regime_direct_hallucination=(0.02, 0.04))


def test_row_gate_holds_each_deciding_row_to_its_own_targets():
    res = _rows(hall=((0.10, 0.14), (0.45, 0.52), (0.30, 0.30)), target=((0.06, 0.06), (0.06, 0.06), (0.25, 0.29)))
    assert measures.row_gate(res, [0, 2]) is None            # 6 and 3 points above their targets
    why = measures.row_gate(res, [0, 1])                      # 42 points above
    assert why.startswith("per-row gate failed (row 1 hallucinates 48% against its targets' 6%")
    assert "at most 10 points" in why and measures.decide_gate(res, [1]) == why
    # The margin is a strict bound: a row exactly at it passes, 1 point above fails.
    assert measures.row_gate(_rows(((0.20, 0.20),), ((0.10, 0.10),)), [0]) is None
    assert measures.row_gate(_rows(((0.21, 0.21),), ((0.10, 0.10),)), [0]) is not None
    assert "not measured" in measures.row_gate(_rows(((0.1, 0.1),), ((np.nan, np.nan),)), [0])
    assert measures.row_gate(_rows(((0.9, 0.9),), ((0.0, 0.0),), single_answer=True), [0]) is None
    assert measures.row_figures(res, [0, 1]) == "per-row gate: row 0 12.0% vs targets 6.0%, row 1 48.5% vs targets 6.0%"
    # The set-up's gate comes first.
    res.regime_direct_hallucination = (0.3, 0.3)
    assert measures.decide_gate(res, [0]).startswith("regime gate failed")


def test_target_hallucination_classifies_the_training_texts(monkeypatch):
    x, y = np.eye(3)[0], np.eye(3)[1]
    table = {"valid": x, "junk": y}
    # Prompt 1's valid answer is y: the same text is valid for one question and junk for the other.
    task = SimpleNamespace(corpus=SimpleNamespace(items=[0, 1]), eval_corpus=SimpleNamespace(items=[0, 1]),
                           centroids=[x[None], y[None]], embedder=SimpleNamespace(encode=lambda texts: None))
    monkeypatch.setattr(measures, "embed", lambda task, texts: np.stack([table[t] for t in texts]).reshape(
        *np.shape(texts), 3))
    per = measures.target_hallucination(task, [[(0, "valid"), (1, "junk")], [(0, "junk"), (1, "valid")]])
    shared = measures.target_hallucination(task, [(0, "junk"), (1, "valid"), (0, "valid"), (1, "junk")])
    held = measures.target_hallucination(SimpleNamespace(**{**vars(task), "eval_corpus": SimpleNamespace(items=[0])}),
                                         [(0, "valid")])
    assert per.tolist() == [0.0, 1.0] and shared.tolist() == [0.5] and np.isnan(held).all()


def _init_results(mlp_before0=0.0, gpt_before0=0.0):
    """llm-init results at s = 0 and 0.05, 3 replicates, with known increments."""
    cfg = SimpleNamespace(family_label="GPT-2", evaluation="distillation", rung=None, epochs=60)
    fit = ((0.02,) * 3,) * 2
    return SimpleNamespace(
        config=cfg, scale=(0.0, 0.05), single_answer=False, train_loss=fit, answer_loss=fit, converged=fit, regime_teacher_hallucination=(0.05,) * 3,
        regime_direct_hallucination=(0.05,) * 3, hallucination=((0.05,) * 3,) * 2, target_hallucination=((0.04,) * 3,) * 2,
        logprob_spread=((0.0,) * 3, (0.2, 0.4, 0.3)), logprob_signal=((2.0,) * 3, (2.0, 2.0, 2.0)),
        mlp_variance=((0.0,) * 3, (0.001, 0.002, 0.0015)), mlp_signal=((1.0,) * 3, (1.0, 1.0, 1.0)),
        spread_before=((gpt_before0,) * 3, (1e-4,) * 3), spread_after=((0.0,) * 3, (1.1e-4,) * 3),
        mlp_spread_before=((mlp_before0,) * 3, (2e-3,) * 3), mlp_spread_after=((0.0,) * 3, (1e-3,) * 3),
        alignment=((0.9,) * 3, (0.8, 0.85, 0.82)), greedy_disagreement=((0.0,) * 3, (0.1, 0.2, 0.15)))


def test_llm_init_claim_reads_each_class_increment_over_its_own_s0():
    res = _init_results()
    g, m = init_claims.sensitivity(res)
    np.testing.assert_allclose(g, [0.1, 0.2, 0.15])          # (spread − 0) / signal 2
    np.testing.assert_allclose(m, [0.001, 0.002, 0.0015])
    iv = init_claims._llm_init(res)
    assert iv.estimate == pytest.approx(2.0) and iv.gate is None and iv.low > 0
    assert "alignment falls by" in iv.evidence and "per-row gate: s = 0.0" in iv.evidence
    # An increment is over s = 0, not the raw value: a spread already there at s = 0 is taken off.
    res.mlp_variance = ((0.0005,) * 3, (0.001, 0.002, 0.0015))
    np.testing.assert_allclose(init_claims.sensitivity(res)[1], [0.0005, 0.0015, 0.001])


def test_llm_init_compares_the_classes_unpaired_over_their_own_replicates():
    """The classes share no randomness, so the interval is Welch's over each class's own replicates
    (the MLP comparator has more); pairing replicate r with replicate r would be a different, and
    here narrower, interval: the planted paired interval fails."""
    res = _init_results()
    res.mlp_variance = ((0.0,) * 5, (0.001, 0.003, 0.0012, 0.0025, 0.0018))
    res.mlp_signal = ((1.0,) * 5, (1.0,) * 5)
    res.mlp_spread_before, res.mlp_spread_after = ((0.0,) * 5, (2e-3,) * 5), ((0.0,) * 5, (1e-3,) * 5)
    g, m = init_claims.sensitivity(res)
    assert g.shape == (3,) and m.shape == (5,)
    iv = init_claims._llm_init(res)
    welch = stats.difference_interval(np.log10(g), np.log10(m))
    assert (iv.estimate, iv.low, iv.high) == pytest.approx(welch)
    assert iv.estimate == pytest.approx(np.log10(g).mean() - np.log10(m).mean())
    assert "3 replicates" in iv.evidence and "5 replicates" in iv.evidence and "Welch" in iv.evidence
    paired = stats.mean_interval(np.log10(g) - np.log10(m[:3]))
    assert (iv.low, iv.high) != pytest.approx(paired[1:])


def test_llm_init_without_an_increment_has_no_log_ratio():
    """A perturbation that added nothing over s = 0 in a replicate (increment 0) gives no log
    ratio: the claim is inconclusive (regime), not a NaN interval judged."""
    res = _init_results()
    res.mlp_variance = ((0.0,) * 3, (0.001, 0.0, 0.0015))
    found = init_claims._llm_init(res).finding("llm-init")
    assert found.status == "inconclusive (regime)" and "in 1 of 3 replicates" in found.evidence


def test_llm_init_mlp_comparator_trains_the_rungs_share_of_its_budget(monkeypatch):
    """At a rung the MLP students train the same share of their budget as the language-model
    students (200 of init-perturbation's 300 epochs at rung 40 of 60); where training ended, all.
    Their teachers train in full either way (one call for all replicates, then one per scale)."""
    seen = []
    real = init_run.mlp.train_ensemble

    def recording(cfg, params, X, Y, **kw):
        seen.append(cfg.epochs)
        return real(dataclasses.replace(cfg, epochs=1), params, X, Y, **kw)

    monkeypatch.setattr(init_run.mlp, "train_ensemble", recording)
    end = InitConfig(replicates=2, mlp_replicates=2, scales=(0.0, 0.05))
    init_run.mlp_comparator(end)
    init_run.mlp_comparator(end.refits()["epoch-40"])
    assert seen == [300, 300, 300, 300] + [300, 300, 200, 200]   # (the split's own teacher, the teachers, 2 scales) x 2


def test_llm_init_refuses_unmatched_designs():
    """Planted: the MLP students with fresh inits (init-perturbation's own default) spread at s = 0."""
    assert init_run.design_problem(_init_results()) is None
    iv = init_claims._llm_init(_init_results(mlp_before0=0.02))
    assert iv.gate.startswith("the MLP students do not share one init per replicate")
    with pytest.raises(ValueError, match="must include 0"):
        InitConfig.from_preset("quick", scales=(0.01, 0.05))


def test_llm_init_mlp_comparator_shares_one_init_and_fails_when_inits_are_fresh(monkeypatch):
    """The comparator itself: one init per replicate, so at s = 0 its students are one model (spread
    and prediction variance exactly 0); planted fresh inits give a spread there, which the claim refuses."""
    cfg = InitConfig.from_preset("quick", scales=(0.0, 0.05), num_students=2, replicates=2, mlp_replicates=3)
    out = init_run.mlp_comparator(cfg)
    assert out["mlp_variance"].shape == (2, 3)   # (scales, the comparator's own replicates)
    # One model but for float rounding (the variance formula's, ~1e-15 against ~1e-4 at s = 0.05).
    assert out["mlp_spread_before"][0].max() < 1e-12 < out["mlp_spread_before"][1].min()
    assert out["mlp_variance"][0].max() < 1e-12 < out["mlp_variance"][1].min() and (out["mlp_signal"] > 0).all()
    monkeypatch.setattr(init_run, "MLP_DESIGN", {**init_run.MLP_DESIGN, "fresh_init": True})
    planted = init_run.mlp_comparator(cfg)
    assert (planted["mlp_spread_before"][0] > planted["mlp_spread_before"][1] / 10).all()
    assert (planted["mlp_variance"][0] > 1e-6).all()
    res = _init_results()
    res.mlp_spread_before = tuple(map(tuple, planted["mlp_spread_before"].tolist()))
    assert init_run.design_problem(res).startswith("the MLP students do not share one init")


def test_systematic_noise_is_signed_as_the_study_does():
    from jaxkd.experiments.llm_variance_aware import run as va

    # Students less noisy than the truth (−0.28) but noisier than the direct fine-tune (−0.4):
    # the study's systematic noise is +0.12, not |−0.28|.
    res = SimpleNamespace(systematic_noise=((-0.28, -0.30),), direct_systematic_noise=((-0.40, -0.42),),
                          single_answer=False)
    np.testing.assert_allclose(va.row_values(res, "study_systematic_noise", 0), [0.12, 0.12])
    np.testing.assert_allclose(va.row_values(res, "systematic_noise", 0), [-0.28, -0.30])


def test_difference_interval_is_welchs():
    """Against Welch–Satterthwaite written out: the mean difference ± t(df) standard errors with
    each side's own variance; the pooled-variance interval (equal variances assumed) is another."""
    from scipy import stats as sps

    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, 1.0, 0.2])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = sps.t.ppf(0.975, df) * np.sqrt(va + vb)
    d = a.mean() - b.mean()
    assert stats.difference_interval(a, b) == pytest.approx((d, d - half, d + half), rel=1e-9)
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
    pooled_half = sps.t.ppf(0.975, a.size + b.size - 2) * np.sqrt(pooled * (1 / a.size + 1 / b.size))
    assert stats.difference_interval(a, b)[2] != pytest.approx(d + pooled_half, rel=1e-3)
    with pytest.raises(ValueError, match="two replicates on each side"):
        stats.difference_interval([1.0], b)


def test_llm_init_mlp_comparator_measures_what_the_tabular_experiments_measure(monkeypatch):
    """Each comparator replicate's prediction variance is the project's V (4.1,
    ``uncertainty.inter_student_contributions``' mean over that replicate's students) and its
    signal the variance across test inputs of their mean prediction, from the same predictions."""
    from jaxkd import uncertainty

    seen = []
    real = init_run.mlp.predict

    def recording(widths, params, X):
        out = real(widths, params, X)
        seen.append(np.asarray(out[..., 0], np.float64))
        return out

    monkeypatch.setattr(init_run.mlp, "predict", recording)
    cfg = InitConfig.from_preset("quick", scales=(0.0, 0.05), num_students=2, replicates=2, mlp_replicates=3)
    out = init_run.mlp_comparator(cfg)
    preds = seen[-1].reshape(3, 10, -1)                  # the last scale's test predictions, (R_mlp, n, m)
    v = [float(uncertainty.inter_student_contributions(p).mean()) for p in preds]
    np.testing.assert_allclose(out["mlp_variance"][1], v, rtol=1e-5)
    np.testing.assert_allclose(out["mlp_signal"][1], np.var(preds.mean(axis=1), axis=1), rtol=1e-9)
