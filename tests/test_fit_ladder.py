"""The fit ladder: students measured at checkpoints of one run (the engine's checkpoints, the
llm-* outputs at every rung, cached once for every rung), every claim judged at each rung and
decided where its premise says, with where along the ladder a verdict holds."""

import dataclasses
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from jaxkd import claims, report, study
from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_study import measures, replicates
from jaxkd.experiments.llm_study.config import LLMConfig, default_rungs
from jaxkd.experiments.llm_topk.config import Config as TopkConfig
from jaxkd.experiments.llm_variance_aware import claims as va_claims
from jaxkd.llm import ModelConfig, distill, tokenizer
from jaxkd.llm.model import init
from jaxkd.llm.training import Compute


@pytest.fixture(scope="module")
def tiny():
    questions = ["one two", "three four", "five six"]
    tok = tokenizer.train_bpe(questions * 10 + ["seven eight nine ten"] * 10, vocab_size=280)
    student = init(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(1))
    return distill.encode_pairs(tok, questions * 4, ["one two", "three four", "five six"] * 4), student


def _first_embedding(params):
    return params["wte"]["embedding"][0, 0]


def test_checkpoints_see_the_students_as_training_passes_them(tiny):
    """At epoch e a checkpoint holds the parameters after that epoch's last step (the trace of
    step 3e), with the compute of e epochs; checkpoints change nothing about the training."""
    data, student = tiny
    keys = jax.random.split(jax.random.key(0), 3)
    seen = {}

    def keep(epoch, lo, hi, students):
        seen[epoch] = (lo, hi, np.asarray(students.states["wte"]["embedding"][:, 0, 0]), students.compute)

    out = distill.distill(student, data, order_keys=keys, epochs=6, batch_size=4, learning_rate=3e-3,
                          trace=_first_embedding, checkpoints=(2, 5), on_checkpoint=keep)
    assert sorted(seen) == [2, 5]
    for e, (lo, hi, first, compute) in seen.items():
        assert (lo, hi) == (0, 3)
        np.testing.assert_array_equal(first, out.trace[:, 3 * e - 1])  # 3 steps an epoch
        assert compute == Compute(steps=3 * e, epochs=float(e), pairs=12, training_tokens=compute.training_tokens)
        assert compute.training_tokens == out.compute.training_tokens * e // 6
    plain = distill.distill(student, data, order_keys=keys, epochs=6, batch_size=4, learning_rate=3e-3)
    for a, b in zip(jax.tree.leaves(plain.states), jax.tree.leaves(out.states)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_stopped_student_passes_later_checkpoints_frozen(tiny):
    """Under a stopping rule every student of a chunk that has stopped is frozen: the remaining
    checkpoints see its final parameters."""
    data, student = tiny
    seen = {}
    out = distill.distill(student, data, order_keys=jax.random.split(jax.random.key(0), 2), epochs=40, batch_size=4,
                          learning_rate=3e-3, stopping=distill.Stopping(tol=0.5, window=1),
                          checkpoints=(20, 30), on_checkpoint=lambda e, lo, hi, s: seen.setdefault(e, s.states))
    assert out.convergence.converged.all() and max(out.convergence.steps) < 60  # stopped before epoch 20
    for e in (20, 30):
        for a, b in zip(jax.tree.leaves(seen[e]), jax.tree.leaves(out.states)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_checkpoint_between_two_students_stops_sees_one_frozen_one_training(tiny):
    """In one chunk, a student that has stopped passes a checkpoint frozen (its final parameters)
    while another still trains (the parameters after that epoch's last step)."""
    data, student = tiny
    keys = jax.random.split(jax.random.key(3), 4)
    rule = distill.Stopping(tol=0.1, window=2)  # these students stop at epochs 29-31
    kw = dict(order_keys=keys, epochs=40, batch_size=4, learning_rate=3e-3, stopping=rule, trace=_first_embedding)
    first = distill.distill(student, data, **kw)
    stop = first.convergence.steps // 3                                   # epochs each student ran (3 steps each)
    early, late = int(np.argmin(stop)), int(np.argmax(stop))
    at = int(stop[early]) + 1                                             # an epoch after the early one stopped
    assert at < stop[late], "the students must stop at least two epochs apart for this test"
    seen = {}
    again = distill.distill(student, data, **kw, checkpoints=(at,),
                            on_checkpoint=lambda e, lo, hi, s: seen.setdefault(e, s.states))
    got = np.asarray(seen[at]["wte"]["embedding"][:, 0, 0])
    final = np.asarray(again.states["wte"]["embedding"][:, 0, 0])
    assert got[early] == final[early]                                     # frozen: its final parameters
    assert got[late] == again.trace[late, 3 * at - 1] and got[late] != final[late]  # still training


def test_bad_checkpoints_are_refused(tiny):
    data, student = tiny
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="below the last epoch run"):
        distill.distill(student, data, order_keys=keys, epochs=3, batch_size=4, checkpoints=(3,),
                        on_checkpoint=lambda *a: None)
    with pytest.raises(ValueError, match="increasing"):
        distill.distill(student, data, order_keys=keys, epochs=3, batch_size=4, checkpoints=(2, 1),
                        on_checkpoint=lambda *a: None)
    with pytest.raises(ValueError, match="need on_checkpoint"):
        distill.distill(student, data, order_keys=keys, epochs=3, batch_size=4, checkpoints=(1,))


def test_rungs_default_to_two_thirds_and_bad_ladders_are_refused():
    assert LLMConfig().rungs == (40,) and LLMConfig(epochs=3).rungs == (2,) and LLMConfig(epochs=1).rungs == ()
    from jaxkd.experiments.llm_teacher_noise.config import Config

    assert Config.from_preset("quick").rungs == (40,)
    assert default_rungs("paper", 3) == (1, 2) and default_rungs("paper", 1) == () and default_rungs("quick", 3) == (2,)
    cfg = LLMConfig(rungs=(20, 40))
    assert list(cfg.refits()) == ["epoch-20", "epoch-40"] and cfg.refits()["epoch-40"].rung == 40
    assert cfg.refits()["epoch-40"].refits() == {}  # a rung has no ladder of its own
    assert (cfg.fit_level, cfg.refits()["epoch-20"].fit_level) == (1.0, 20 / 60)
    assert cfg.refits()["epoch-20"].fit_label == "20 of 60 epochs" and cfg.fit_label == "60 epochs"
    with pytest.raises(ValueError, match="below --epochs 60"):
        LLMConfig(rungs=(30, 60))
    with pytest.raises(ValueError, match="increasing"):
        LLMConfig(rungs=(40, 20))
    with pytest.raises(ValueError, match="not one of the rungs"):
        LLMConfig(rung=30)
    assert TopkConfig().rungs == () and TopkConfig().refits() == {}
    with pytest.raises(ValueError, match="runs no fit ladder"):
        TopkConfig(rungs=(20,))


def test_rungs_fall_at_the_same_share_of_every_rows_training():
    cfg = LLMConfig(rungs=(20, 40))  # of 60
    assert replicates.rung_epochs(cfg, 60) == {20: 20, 40: 40}
    assert replicates.rung_epochs(cfg, 20) == {20: 7, 40: 13}  # a row of 20 epochs (k x the pairs, equal steps)
    assert replicates.rung_epochs(cfg, 2) == {20: 1, 40: 1}     # too short to resolve: its nearest epoch
    assert replicates.rung_epochs(LLMConfig(epochs=3, rungs=(1, 2)), 1) == {1: 1, 2: 1}  # at its end: where it ended
    # A row trained to its own convergence (a stopping rule) is measured where it stopped, at every rung.
    assert replicates.rung_epochs(cfg, 180, converged=True) == {20: 180, 40: 180}


def _outputs(tag: str, steps: int, rungs=()):
    return replicates.Outputs([[tag]], replicates.Samples((1.0,), [[[[tag, tag]]]]), [[-1.0]],
                              Compute(steps, steps / 2, 2, 10 * steps), [[0.5] * steps], rungs)


def test_outputs_keep_every_rung_through_json_and_chunks():
    a = _outputs("end", 6, ((2, _outputs("r2", 2)), (4, _outputs("r4", 4))))
    b = _outputs("END", 6, ((2, _outputs("R2", 2)), (4, _outputs("R4", 4))))
    back = replicates.Outputs.from_json(a.to_json())
    assert back.at(None).greedy == [["end"]] and back.at(4).greedy == [["r4"]] and back.at(2).compute.steps == 2
    both = replicates.Outputs.concat([a, b])
    assert both.at(2).greedy == [["r2"], ["R2"]] and both.at(None).greedy == [["end"], ["END"]]
    with pytest.raises(KeyError, match="no checkpoint at rung 3"):
        a.at(3)


def test_fit_record_reads_the_last_epoch_and_the_plateau():
    cfg = LLMConfig(batch_size=2)   # 4 pairs: 2 steps an epoch
    flat = [1.0] * 4 + [0.5] * 12   # epoch means 1, 1, .5 x 6: on the plateau over the last 5 epochs
    falling = list(np.repeat(np.linspace(1.0, 0.2, 8), 2))
    out = dataclasses.replace(_outputs("x", 16), losses=[flat, falling], logprob=[[-2.0, -1.0], [-0.5, -0.5]],
                              compute=Compute(16, 8.0, 4, 0))
    rec = measures.fit_record(cfg, out)
    np.testing.assert_allclose(rec["train_loss"], [0.5, 0.2])
    np.testing.assert_allclose(rec["answer_loss"], [1.5, 0.5])
    np.testing.assert_array_equal(rec["converged"], [1.0, 0.0])


def _res(level: float, label: str, value: float):
    """A fake step's results at one fit: the claim below reads ``value`` (its interval value ±
    0.1) and is gated when ``value`` is None."""
    return SimpleNamespace(config=SimpleNamespace(fit_label=label, fit_level=level), value=value)


def _judge(res):
    if res.value is None:
        return Interval(0.0, -0.1, 0.1, 5, "gated", gate="per-row gate failed")
    return Interval(res.value, res.value - 0.1, res.value + 0.1, 5, "measured")


def _ladder(monkeypatch, premise, values):
    """study.judge on one fake claim whose step was measured at three fits: where training ended
    (level 1) and rungs at 1/3 and 2/3, with the claim's quantity ``values`` (None: gated)."""
    claim = Claim("fake", "s", "a fake claim", "quantity > 0", ("step",), _judge, premise=premise)
    monkeypatch.setattr(study, "CLAIMS", (claim,))
    results = {"step": _res(1.0, "60 epochs", values[2])}
    refits = {"step": {"epoch-20": _res(1 / 3, "20 of 60 epochs", values[0]),
                       "epoch-40": _res(2 / 3, "40 of 60 epochs", values[1])}}
    ((_, found),) = study.judge(results, refits)
    return found


def test_the_premise_names_the_deciding_fit(monkeypatch):
    # The study's regime: the least-trained fit whose rows pass every gate (here 40 of 60 epochs).
    found = _ladder(monkeypatch, "regime", [None, 0.5, 0.4])
    assert found.status == "reproduced" and found.fits[0].fit.startswith("deciding: epoch-40")
    assert [v.level for v in found.fits] == [2 / 3, 1.0, 1 / 3]
    # Gated everywhere: the most-trained fit's verdict (inconclusive (regime)).
    assert _ladder(monkeypatch, "regime", [None, None, None]).status == "inconclusive (regime)"
    # A theorem's premise: the most-trained fit, though the rungs are not gated.
    found = _ladder(monkeypatch, "converged", [0.5, 0.5, 0.3])
    assert found.fits[0].fit.startswith("deciding: step 60 epochs") and found.interval == pytest.approx((0.2, 0.4))
    # The config's own fit (the other experiments' refits): the results given, whatever their level.
    found = _ladder(monkeypatch, "config", [None, 0.5, 0.4])
    assert found.fits[0].fit == "deciding: step 60 epochs" and found.status == "reproduced"


def test_a_verdict_that_changes_along_the_ladder_says_where_it_holds(monkeypatch):
    found = _ladder(monkeypatch, "regime", [0.5, 0.3, -0.5])
    assert found.status == "inconclusive (budget)"
    assert ("along the fit ladder: reproduced from epoch-20: step 20 of 60 epochs to epoch-40: step 40 of 60 "
            "epochs, not reproduced at step 60 epochs") in found.evidence
    assert claims.holds_along([("a", claims.Finding("c", True, "")), ("b", claims.Finding("c", None, "", None, None,
                                                                                           True, "regime"))]) == \
        "along the fit ladder: reproduced at a, inconclusive (regime) at b"


def test_the_ladder_figure_draws_every_ladder_claim(monkeypatch):
    found = _ladder(monkeypatch, "regime", [None, 0.5, -0.5])
    fig = report.ladder_figure([(study.CLAIMS[0], found), (study.CLAIMS[0], claims.Finding("x", True, "no fits"))])
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 1 and shown[0].get_title() == "fake: inconclusive (budget)"
    assert len(shown[0].lines) == 2 * 3 + 1  # an interval and a point per fit, and the zero line
    assert report.ladder_figure([(study.CLAIMS[0], claims.Finding("x", True, "no fits"))]) is None


def test_a_claim_premise_must_be_known():
    with pytest.raises(ValueError, match="premise must be one of"):
        Claim("k", "s", "c", "x", ("step",), _judge, premise="soon")
    regime = Claim("k", "s", "c", "x", ("step",), _judge, premise="regime")
    assert regime.criterion.startswith("x; judged at every rung")


def test_variance_aware_decides_at_equal_epochs_per_target():
    """Multi-response at equal epochs (k x the steps) and every other method at single's steps
    (one target per prompt: the same epochs); results without an equal-epochs row fall back."""
    res = SimpleNamespace(label=("direct fine-tune", "single", "multi-response k=3, equal", "averaging k=3, equal",
                                 "variance weighting (study) k=3, equal", "multi-response k=3, equal epochs"),
                          method=("direct", "single", "multi", "averaging", "variance-weighting-study", "multi"),
                          schedule=("equal",) * 5 + ("epochs",))
    assert va_claims._rows(res, "epochs") == [3, 4, 5] and va_claims._rows(res, "equal") == [2, 3, 4]
    assert va_claims.deciding_rows(res) == [1, 3, 4, 5]
    old = SimpleNamespace(label=res.label[:5], method=res.method[:5], schedule=res.schedule[:5])
    assert va_claims._rows(old, "epochs") == [2, 3, 4]
