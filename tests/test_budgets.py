"""Every verdict re-judged at other training budgets (issue 33, item 3): a claim whose fits
disagree between reproduced and not reproduced is "inconclusive (budget)", and `jaxkd reproduce`
runs each step whose students train to a budget again at its other fits."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from jaxkd import claims, reproduce, study
from jaxkd.claims import Interval


def _finding(low, high):
    return Interval((low + high) / 2, low, high, 10, f"[{low}, {high}]").finding("a claim")


def test_fits_that_disagree_make_the_verdict_inconclusive_budget():
    up, down, open_ = _finding(0.1, 0.3), _finding(-0.3, -0.1), _finding(-0.1, 0.1)
    flipped = claims.across_fits(up, "200 epochs", [("2x: 400 epochs", down)])
    assert flipped.status == "inconclusive (budget)" and flipped.reproduced is None
    assert [v.fit for v in flipped.fits] == ["deciding: 200 epochs", "2x: 400 epochs"]
    assert [v.status for v in flipped.fits] == ["reproduced", "not reproduced"]
    assert "the training budget decides it" in flipped.evidence and flipped.interval == up.interval
    # An undecided fit does not overturn a decided one; agreeing fits keep the verdict.
    assert claims.across_fits(up, "200 epochs", [("2x", open_)]).status == "reproduced"
    kept = claims.across_fits(down, "200 epochs", [("2x", _finding(-0.5, -0.2))])
    assert kept.status == "not reproduced" and "re-judged at every fit" in kept.evidence
    # Two other fits that disagree with each other also decide nothing.
    assert claims.across_fits(open_, "x", [("2x", up), ("fixed", down)]).status == "inconclusive (budget)"
    # One fit: the finding unchanged, no fits listed.
    assert claims.across_fits(up, "200 epochs", []) is up and up.fits == ()
    regime = Interval(0.2, 0.1, 0.3, 10, "e", gate="teacher hallucinates").finding("c")
    assert claims.across_fits(regime, "x", [("2x", down)]).status == "inconclusive (regime)"


def _bootstrap(epochs, teacher_variance):
    return SimpleNamespace(config=SimpleNamespace(fit_label=f"{epochs} epochs"), b=[40, 100, 404],
                           teacher_variance=teacher_variance, teacher_variance_se=[0.01] * 3,
                           truth_variance=[0.2, 0.05, 0.02], truth_variance_se=[0.01] * 3, num_students=100)


def test_judge_re_judges_each_claim_on_its_own_steps_at_every_fit():
    deciding = {"bootstrap-mlp": _bootstrap(300, [0.1, 0.03, 0.01])}
    # At twice the budget the teacher-labelled variance vanishes: bootstrap is not reproduced there.
    refits = {"bootstrap-mlp": {"2x": _bootstrap(600, [1e-30] * 3)}}
    found = {c.key: f for c, f in study.judge(deciding, refits)}
    boot = found["bootstrap"]
    assert boot.status == "inconclusive (budget)"
    assert [(v.fit, v.status) for v in boot.fits] == [("deciding: bootstrap-mlp 300 epochs", "reproduced"),
                                                     ("2x: bootstrap-mlp 600 epochs", "not reproduced")]
    assert found["mlp-noise"].fits == () and found["mlp-noise"].status == "not run"  # reads another step
    same = {"bootstrap-mlp": {"2x": _bootstrap(600, [0.1, 0.03, 0.01])}}
    assert {c.key: f for c, f in study.judge(deciding, same)}["bootstrap"].status == "reproduced"


def test_plan_refits_every_step_whose_students_train_to_a_budget():
    plan = reproduce.plan("quick", only=["teacher-noise", "objectives"])
    by_step = {(s.name, label): cfg for s, label, cfg in plan.refits}
    assert set(by_step) == {("teacher-noise-mlp", "2x"), ("objectives-all", "2x"), ("objectives-all", "fixed")}
    base = dict((s.name, c) for s, c in plan.steps)
    twice_mlp = by_step["teacher-noise-mlp", "2x"]
    once_mlp = base["teacher-noise-mlp"]
    assert (twice_mlp.student_epochs, twice_mlp.epochs) == (2 * once_mlp.epochs, once_mlp.epochs)  # teacher kept
    obj, twice, fixed = base["objectives-all"], by_step["objectives-all", "2x"], by_step["objectives-all", "fixed"]
    assert (twice.student_epochs, twice.stopping_tol) == (2 * obj.student_epochs, obj.stopping_tol / 2)
    assert (fixed.student_epochs, fixed.stopping_tol) == (obj.epochs, None)
    assert plan.config()["refits"] == ["teacher-noise-mlp@2x", "objectives-all@2x", "objectives-all@fixed"]
    assert reproduce.plan("quick", only=["teacher-noise"], refits=False).refits == ()
    oe = reproduce.plan("quick", only=["output-entropy"])
    (step, label, twice_oe), = oe.refits
    assert (oe.steps[0][1].epochs, twice_oe.epochs, twice_oe.student_epochs) == (300, 300, 600)  # the study's 300
    assert reproduce.plan("quick", only=["teacher-noise-linear"]).refits == ()  # OLS: no budget
    assert reproduce.plan("quick", only=["variance-attribution-mlp"]).refits == ()  # no claim reads it


def test_reproduce_runs_the_refits_and_reports_every_verdict_at_every_fit(tmp_path):
    out = tmp_path / "study"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    r = subprocess.run([sys.executable, "-m", "jaxkd.cli", "reproduce", "--only", "teacher-noise-mlp",
                        "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    twice = json.loads((out / "teacher-noise-mlp@2x" / "config.json").read_text())
    once = json.loads((out / "teacher-noise-mlp" / "config.json").read_text())
    assert twice["student_epochs"] == 2 * once["epochs"] and {k: v for k, v in twice.items() if k != "student_epochs"} == \
        {k: v for k, v in once.items() if k != "student_epochs"}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["seconds"]) == {"teacher-noise-mlp", "teacher-noise-mlp@2x"}
    judged = [f for f in summary["findings"] if f["fits"]]
    assert judged, "mlp-noise reads teacher-noise-mlp"
    for f in judged:
        assert [v["fit"].split(":")[0] for v in f["fits"]] == ["deciding", "2x"]
        assert f"{once['epochs']} epochs" in f["fits"][0]["fit"] and f"{twice['student_epochs']} epochs" in f["fits"][1]["fit"]
    md = (out / "report.md").read_text()
    assert "Every verdict at every training budget" in md and "teacher-noise-mlp@2x" in md
    document, _ = reproduce.report_from_folder(out)  # rebuilt from the stored numbers: the same verdicts
    from jaxkd import document as doc
    assert doc.to_markdown(document) == md


@pytest.mark.parametrize("flags, refits", [((), ["teacher-noise-mlp@2x"]), (("--no-refits",), [])])
def test_the_command_line_plans_the_refits_unless_told_not_to(tmp_path, monkeypatch, flags, refits):
    """`jaxkd reproduce` hands reproduce() a plan with the refits, and none with --no-refits."""
    from jaxkd import cli

    planned = []

    def fake(the_plan, out, **kw):
        planned.append(the_plan)
        return SimpleNamespace(summary={}, tables="", theorems=())

    monkeypatch.setattr(reproduce, "reproduce", fake)
    code = cli.main(["reproduce", "--only", "teacher-noise-mlp", *flags, "--out", str(tmp_path / "o")])
    assert code == 0 and planned[0].config()["refits"] == refits


def test_results_page_lists_every_verdict_at_every_fit():
    from jaxkd import document as doc
    from jaxkd import report

    fit = {"fit": "2x: teacher-noise-mlp 400 epochs", "status": "not reproduced", "interval": [-0.3, -0.1],
           "evidence": "e"}
    summary = {"preset": "quick", "seed": 0, "theorems": [], "seconds": {},
               "findings": [{"claim": "mlp-noise", "statement": "s", "status": "inconclusive (budget)",
                             "interval": [0.1, 0.3], "replicates": 100, "criterion": "c", "evidence": "e",
                             "fits": [{**fit, "fit": "deciding: teacher-noise-mlp 200 epochs", "status": "reproduced",
                                       "interval": [0.1, 0.3]}, fit]}]}
    md = doc.to_markdown(report.results_document(summary, "x"))
    assert "Every verdict at every training budget" in md and "2x: teacher-noise-mlp 400 epochs" in md
    summary["findings"][0]["fits"] = []
    assert "Every verdict at every training budget" not in doc.to_markdown(report.results_document(summary, "x"))
