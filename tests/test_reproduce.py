"""`jaxkd reproduce`, the study checklist, and crash-safe resume of real runs killed mid-sweep."""

import json
import re
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxkd import claims, study

LINEAR = "teacher-noise-linear,bootstrap-linear,variance-aware-linear"


def jaxkd_cmd(*args):
    return [sys.executable, "-m", "jaxkd.cli", *args]


def run(*args, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(jaxkd_cmd(*args), capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def read_tree(folder, pattern="*/results.json") -> dict:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.glob(pattern))}


@pytest.fixture(scope="module")
def linear_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "study"
    r = run("reproduce", "--only", LINEAR, "--out", str(out), "--json", str(out.parent / "summary.json"))
    assert r.returncode == 0, r.stderr
    return out, r


def test_reproduce_writes_report_html_and_summary_and_resume_reuses_everything(linear_study):
    """One test, so that make test runs the fixture's study once: tests that share a module
    fixture can land on both workers, and each would run it."""
    out, r = linear_study
    md = (out / "report.md").read_text()
    for heading in ('## <a id="summary"></a>Summary', '## <a id="teacher"></a>Teacher output uncertainty (Section 4)',
                    '## <a id="init"></a>Student initialization uncertainty (Section 5)',
                    '## <a id="variance-aware"></a>Variance-aware distillation (Section 7)',
                    '## <a id="run-details"></a>Run details', "**What this tests**", "docs/theorems.md 4.1"):
        assert heading in md, heading
    assert "Student output uncertainty" not in md  # not run: no empty section
    # Figures are linked into their run folders, and every one of them exists.
    links = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert links and all((out / link).is_file() for link in links)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(links) and "<table>" in html
    for step in LINEAR.split(","):  # each step's own folder has its report too
        assert (out / step / "report.md").is_file() and (out / step / "report.html").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((out.parent / "summary.json").read_text())
    assert {f["status"] for f in summary["findings"]} == {"not run"}  # claims need MLP/LLM runs
    assert set(summary["seconds"]) == set(LINEAR.split(","))
    prov = summary["provenance"]  # what made these numbers: code, packages, devices, wall time
    assert {"jax", "jaxlib", "flax", "optax", "numpy"} <= set(prov["packages"]) and prov["devices"]["count"] >= 1
    assert prov["wall_seconds"] > 0 and len(prov["source_sha256"]) == 64
    assert prov["source_sha256"] in md and f"jax {prov['packages']['jax']}" in md and prov["devices"]["kind"] in md
    assert "| claim | verdict | measured |" in r.stdout

    # Rerunning is refused without --resume; with it every step is reused and nothing changes.
    before = read_tree(out)
    again = run("reproduce", "--only", LINEAR, "--out", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run("reproduce", "--only", LINEAR, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert read_tree(out) == before
    other = run("reproduce", "--only", "teacher-noise-linear", "--out", str(out), "--resume")
    assert other.returncode == 2 and "different config (steps differ)" in other.stderr


def _start(args, out, *, poll_glob, at_least):
    """Start ``jaxkd args`` and return the process once ``at_least`` files match ``poll_glob``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Default SIGINT handling in the child, as in a terminal: a shell's background job (and so
    # a test suite started with `make test &`) would otherwise pass SIGINT on as ignored.
    proc = subprocess.Popen(jaxkd_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while len(list(out.glob(poll_glob))) < at_least:
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return proc


def _all_files_complete(folder):
    """No half-written file under a final name: every JSON parses, and anything else is a
    hidden ``.NAME.*.tmp`` (what a write killed before its rename leaves)."""
    for p in (p for p in folder.rglob("*") if p.is_file()):
        if p.name.startswith(".") and p.suffix == ".tmp":
            continue
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
        else:
            assert p.suffix in (".md", ".html") and p.stat().st_size > 0, p


SWEEP = ["run", "teacher-noise", "--model", "mlp", "--students", "16", "--epochs", "60",
         "--alphas", "0,0.2,0.4,0.6,0.8,1,1.2,1.4,1.6,1.8,2"]


@pytest.fixture(scope="module")
def uninterrupted_sweep(tmp_path_factory):
    ref = tmp_path_factory.mktemp("sweep") / "ref"
    assert run(*SWEEP, "--out", str(ref)).returncode == 0
    return json.loads((ref / "results.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_killed_sweep_resumes_to_identical_results(tmp_path, sig, uninterrupted_sweep):
    args = SWEEP
    out = tmp_path / "killed"
    proc = _start([*args, "--out", str(out)], out, poll_glob="points/alpha-*.json", at_least=2)
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "rerun the same command with --resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    finished = len(list(out.glob("points/*.json")))
    assert 2 <= finished < 22 and not (out / "results.json").exists()
    _all_files_complete(out)
    resumed = run(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "results.json").read_text()) == uninterrupted_sweep


@pytest.mark.slow  # make test kills a sweep (test_killed_sweep_resumes_to_identical_results)
def test_killed_reproduce_resumes_to_identical_results(linear_study, tmp_path):
    ref, _ = linear_study
    out = tmp_path / "study"
    proc = _start(["reproduce", "--only", LINEAR, "--out", str(out)], out,
                  poll_glob="bootstrap-linear/points/*.json", at_least=1)
    proc.kill()
    proc.communicate(timeout=120)
    assert not (out / "report.md").exists() and not (out / "bootstrap-linear" / "results.json").exists()
    _all_files_complete(out)
    resumed = run("reproduce", "--only", LINEAR, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert read_tree(out) == read_tree(ref)
    assert read_tree(out, "*/points/*.json") == read_tree(ref, "*/points/*.json")


# --- the checklist ------------------------------------------------------------------------------


def _typed(results):
    """Claims read results by attribute, as typed Results have them; partial stand-ins here."""
    from types import SimpleNamespace

    return {step: SimpleNamespace(runs={k: SimpleNamespace(**v) for k, v in r.items()})
            if step.startswith("output-entropy") else SimpleNamespace(**{"num_students": None, **r})
            for step, r in results.items()}


def _claim(key):
    return next(c for c in study.CLAIMS if c.key == key)


def test_mlp_noise_is_judged_on_v_and_mse_against_the_linear_control():
    """Super-linear: the curvature of V and of the mean test MSE over α, each against 0 (4.1,
    4.3: linear for any linear smoother). Straight curves (what OLS students give) are not
    reproduced; the study's variance of the test MSE no longer decides (it is convex for OLS)."""
    from types import SimpleNamespace

    alpha = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
    ones = np.ones_like(alpha)
    lin = SimpleNamespace(inter_student_variance=0.04 * alpha, inter_student_variance_se=0.001 * ones,
                          mse_truth=0.3 + 0.04 * alpha, mse_truth_std=0.05 * ones, num_students=200,
                          predicted_mse_truth_variance=1e-3 * (alpha + alpha**2))

    def judged(V, mse, se=0.002, **extra):
        res = {"alpha": alpha, "inter_student_variance": V, "inter_student_variance_se": se * ones,
               "mse_truth": mse, "mse_truth_std": 10 * se * ones, "mse_truth_variance": 1e-3 * (alpha + alpha**3),
               "mse_truth_variance_se": 1e-4 * ones, "linear": lin, "num_students": 100, **extra}
        return _claim("mlp-noise").evaluate(_typed({"teacher-noise-mlp": res}))

    bent = judged(0.01 + 0.05 * alpha + 0.05 * alpha**2, 0.2 + 0.05 * alpha + 0.05 * alpha**2)
    assert bent.status == "reproduced" and bent.interval[0] > 0 and bent.replicates == 100
    # The effect absent: both straight, as any linear smoother's are -> not super-linear.
    straight = judged(0.01 + 0.1 * alpha, 0.2 + 0.1 * alpha)
    assert straight.status == "inconclusive" and straight.interval[0] < 0 < straight.interval[1]
    concave = judged(0.01 + 0.3 * alpha - 0.05 * alpha**2, 0.2 + 0.3 * alpha - 0.05 * alpha**2)
    assert concave.status == "not reproduced" and concave.interval[1] < 0
    one_straight = judged(0.01 + 0.05 * alpha + 0.05 * alpha**2, 0.2 + 0.1 * alpha)
    assert one_straight.status == "inconclusive"
    assert judged(0.01 + 0.05 * alpha + 0.05 * alpha**2, 0.2 + 0.05 * alpha + 0.05 * alpha**2, se=0.2).status \
        == "inconclusive"  # too noisy to tell
    shrinking = judged(0.5 - 0.1 * alpha + 0.04 * alpha**2, 0.2 + 0.05 * alpha + 0.05 * alpha**2)
    assert shrinking.status == "not reproduced"  # does not even grow with α


def test_bootstrap_and_averaging_claims():
    boot = {"b": [20, 100, 404], "teacher_variance": [0.1, 0.03, 0.01], "teacher_variance_se": [0.01] * 3,
            "truth_variance": [0.2, 0.05, 0.02], "truth_variance_se": [0.01] * 3, "num_students": 100}
    found = _claim("bootstrap").evaluate(_typed({"bootstrap-mlp": boot}))
    assert found.reproduced is True and found.interval[0] > 0 and found.replicates == 100
    degenerate = {**boot, "teacher_variance": [1e-30, 1e-30, 1e-30]}  # the linear case, 5.1
    assert _claim("bootstrap").evaluate(_typed({"bootstrap-mlp": degenerate})).reproduced is False
    close = {**boot, "teacher_variance": [0.19, 0.03, 0.01], "truth_variance_se": [0.05] * 3}
    assert _claim("bootstrap").evaluate(_typed({"bootstrap-mlp": close})).status == "inconclusive"
    assert _claim("bootstrap").evaluate(_typed({})).status == "not run"
    va = {"alpha": [0.1] * 3 + [1.0] * 3, "k": [1, 3, 10] * 2, "average_variance": [0.1, 0.04, 0.01, 1.0, 0.4, 0.1],
          "average_variance_se": [0.005] * 3 + [0.05] * 3}
    assert _claim("mlp-averaging").evaluate(_typed({"variance-aware-mlp": va})).status == "reproduced"
    flat = {**va, "average_variance": [0.1, 0.09, 0.095, 1.0, 0.98, 0.97]}
    assert _claim("mlp-averaging").evaluate(_typed({"variance-aware-mlp": flat})).status != "reproduced"


def test_variance_weighting_stability_is_judged_on_the_spread_of_test_mse():
    base = {"alpha": [0.1] * 3 + [1.0] * 3, "k": [1, 3, 10] * 2, "num_students": 1000}
    stable = {**base, "stability_log_ratio": [0.0, 0.3, 0.5, 0.0, 0.8, 1.2], "stability_log_ratio_se": [0.0] + [0.05] * 5}
    found = _claim("mlp-vw-stable").evaluate(_typed({"variance-aware-mlp": stable}))
    assert found.status == "reproduced" and found.interval[0] > 0
    # The effect absent: the same spread with either target -> inconclusive, never reproduced.
    same = {**stable, "stability_log_ratio": [0.0, 0.02, -0.03, 0.0, -0.01, 0.04]}
    assert _claim("mlp-vw-stable").evaluate(_typed({"variance-aware-mlp": same})).status == "inconclusive"
    worse = {**stable, "stability_log_ratio": [0.0, -0.4, -0.5, 0.0, 0.3, 0.4]}
    assert _claim("mlp-vw-stable").evaluate(_typed({"variance-aware-mlp": worse})).status == "not reproduced"
    # Decided at the study's α = 0.5, where teacher noise is a real share of the spread, not at the
    # weakest α, where the effect vanishes by construction; every α is reported.
    study_alpha = {"alpha": [0.01] * 3 + [0.5] * 3 + [1.0] * 3, "k": [1, 3, 10] * 3, "num_students": 1000,
                   "stability_log_ratio": [0.0, 0.02, -0.01, 0.0, 0.5, 0.6, 0.0, -0.5, -0.6],
                   "stability_log_ratio_se": [0.0] + [0.05] * 8}
    found = _claim("mlp-vw-stable").evaluate(_typed({"variance-aware-mlp": study_alpha}))
    assert found.status == "reproduced" and found.interval[0] > 0
    assert "α = 0.01" in found.evidence and "α = 1:" in found.evidence and "deciding: α = 0.5" in found.evidence


def test_init_claim_needs_fresh_inits_and_reads_the_test_mse_paired():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    base = 0.3 + 0.03 * rng.standard_normal(1000)  # fresh inits: each student its own test MSE
    jitter = lambda scale: base * (1 + scale * rng.standard_normal(1000))  # noqa: E731  perturbed, paired

    def judged(per_student, fresh=True):
        res = {"scale": [0.0, 0.01, 0.05], "mse_truth_per_student": per_student, "num_students": 1000,
               "config": SimpleNamespace(fresh_init=fresh)}
        return _claim("mlp-init").evaluate(_typed({"init-perturbation-mlp": res}))

    insensitive = judged([base, jitter(0.002), jitter(0.005)])
    assert insensitive.status == "reproduced" and insensitive.replicates == 1000
    # The effect absent (students sensitive): the mean test MSE moves by 5% at s = 0.05.
    assert judged([base, jitter(0.002), 1.05 * base]).status == "not reproduced"
    assert judged([base, jitter(0.002), 1.3 * base - 0.09]).status == "not reproduced"  # spread x 1.69
    few = [x[:30] for x in (base, jitter(0.002), jitter(0.03))]
    undecided = judged(few)
    assert undecided.status == "inconclusive"  # 30 students: too few to tell
    # ... and it says how many students would decide it at 80% power (more than it has).
    need = int(re.search(r"about ([\d,]+) students would decide it at 80% power", undecided.evidence)
               .group(1).replace(",", ""))
    assert need > 30
    shared = judged([base, jitter(0.002), jitter(0.005)], fresh=False)
    assert shared.status == "not reproduced" and "fresh inits" in shared.evidence


def test_replicates_to_decide_give_80_percent_power():
    """The count an inconclusive verdict states: were the estimate what was measured, intervals z
    standard errors wide at that many replicates exclude 0 in 80% of draws (simulated, at the
    95% level and at a Bonferroni level; planted: z in place of z + 0.84 gives 50%)."""
    from scipy import stats

    rng = np.random.default_rng(0)
    for z in (1.96, float(stats.norm.ppf(1 - 0.025 / 4))):
        for est, se, n in ((0.3, 0.2, 100), (-0.2, 0.15, 30), (0.05, 0.04, 1000)):
            text = claims.replicates_to_decide(est, se, n, z, "students")
            need = int(re.search(r"about ([\d,]+) students", text).group(1).replace(",", ""))
            se_need = se * np.sqrt(n / need)
            draws = est + se_need * rng.standard_normal(20000)
            assert np.mean(np.abs(draws) > z * se_need) == pytest.approx(0.80, abs=0.02)
    assert "no number of replicates" in claims.replicates_to_decide(0.0, 0.1, 100)
    # Every inconclusive interval verdict says it, unless its claim states its own.
    open_ = claims.Interval(0.1, -0.1, 0.3, 20, "e").finding("c")
    assert open_.status == "inconclusive" and "replicates would decide it at 80% power" in open_.evidence
    assert "80% power" not in claims.Interval(0.2, 0.1, 0.3, 20, "e").finding("c").evidence
    assert claims.Interval(0.1, -0.1, 0.3, 20, "e", power_stated=True).finding("c").evidence == "e"


def test_llm_correction_claims_read_paired_replicates():
    from types import SimpleNamespace

    from experiment_modules import face
    va = face("llm_variance_aware")

    rows = va.methods((3,), study_schedule=True, jaxkd_methods=True)  # every row the claims read
    noise = np.array([0.01, -0.02, 0.015])  # shared draws: every method moves with its replicate

    def results(tv_of):
        tv = [tuple(tv_of(m, sch) + noise) for _, m, _, sch in rows]
        # The study's sign: students' noise above the direct fine-tune's (0 here) is noisier.
        sys = [tuple(np.zeros(3) if m == "direct" else (0.3 if m == "single" else 0.1) + noise)
               for _, m, _, _ in rows]
        low = tuple((0.05, 0.04, 0.06) for _ in rows)  # every row as valid as its targets: the per-row gate passes
        return {"llm-variance-aware-gpt2": SimpleNamespace(
            label=tuple(r[0] for r in rows), method=tuple(r[1] for r in rows), k=tuple(r[2] for r in rows),
            schedule=tuple(r[3] for r in rows), tv_excess=tuple(tv), systematic_noise=tuple(sys),
            direct_systematic_noise=tuple((0.0, 0.0, 0.0) for _ in rows), hallucination=low,
            target_hallucination=low, train_loss=low, answer_loss=low, converged=low, single_answer=False,
            config=SimpleNamespace(replicates=3, evaluation="distillation", rung=None, epochs=60),
            regime_teacher_hallucination=(0.03, 0.04, 0.05), regime_direct_hallucination=(0.05, 0.06, 0.04))}

    better = {"single": 0.6, "soft": 0.6, "direct": 0.5, "multi": 0.5, "averaging": 0.48,
              "variance-weighting-study": 0.4, "variance-weighting": 0.45}
    found = {c.key: c.evaluate(results(lambda m, s: better[m]))
             for c in study.CLAIMS if c.needs == ("llm-variance-aware-gpt2",)}
    assert all(f.status == "reproduced" and f.replicates == 3 for f in found.values())
    assert "averaging k=3, study" in found["llm-vw"].evidence  # the closest competitor decides
    # Averaging beats the study's variance weighting on the study's schedule: not strongest.
    worse = {**better, "averaging": 0.3}
    assert _claim("llm-vw").evaluate(results(lambda m, s: worse[m])).status == "not reproduced"
    # Equal epochs per target decides: multi-response starved at equal steps (worse than single there) is
    # reported beside, not deciding.
    starved = lambda m, s: better[m] if m != "multi" or s == "epochs" else 0.7  # noqa: E731
    f = _claim("llm-similarity").evaluate(results(starved))
    assert f.status == "reproduced" and "beside: equal steps, weakest row multi-response k=3, equal:" in f.evidence
    # With each method's converged rows, those decide, equal epochs beside.
    conv_rows = va.methods((3,), study_schedule=True, jaxkd_methods=True, converged=True)
    rows[:] = conv_rows
    late = lambda m, s: better[m] if s == "converged" else (0.7 if m == "multi" else better[m])  # noqa: E731
    f = _claim("llm-similarity").evaluate(results(late))
    assert f.status == "reproduced" and "each at its own convergence (deciding)" in f.evidence
    assert "multi-response k=3, converged" in f.evidence and "equal epochs per target, weakest" in f.evidence
    early = lambda m, s: 0.7 if (m == "multi" and s == "converged") else better[m]  # noqa: E731
    assert _claim("llm-similarity").evaluate(results(early)).status == "not reproduced"
    rows[:] = va.methods((3,), study_schedule=True, jaxkd_methods=True)
    # One corrected method no better than single-response, up to replicate noise: inconclusive.
    tie = lambda m, s: better[m] if m != "multi" else 0.6 + (0.02 if s == "study" else 0.0)  # noqa: E731
    # (every multi-response row ties single-response: the deciding one at equal epochs, and equal steps beside)
    rand = results(tie)
    rand["llm-variance-aware-gpt2"].tv_excess = tuple(
        tuple(np.asarray(t) + ([0.0, 0.05, -0.05] if rand["llm-variance-aware-gpt2"].method[i] == "multi" else 0))
        for i, t in enumerate(rand["llm-variance-aware-gpt2"].tv_excess))
    assert _claim("llm-similarity").evaluate(rand).status == "inconclusive"
    # Students that mostly hallucinate cannot decide it, however clear the interval.
    gated = results(lambda m, s: better[m])
    gated["llm-variance-aware-gpt2"].regime_direct_hallucination = (0.5, 0.6, 0.55)
    finding = _claim("llm-similarity").evaluate(gated)
    assert finding.status.startswith("inconclusive") and "direct fine-tune hallucinates 55%" in finding.evidence


def test_every_study_step_is_an_experiment_and_every_claim_reads_a_step():
    from jaxkd.study import EXPERIMENTS

    names = {s.name for s in study.STEPS}
    assert {s.experiment for s in study.STEPS} == set(EXPERIMENTS)
    assert all(set(c.needs) <= names for c in study.CLAIMS)
    assert {r for s in study.STEPS for r in s.theorems} <= set(study.THEOREMS)
    assert claims.trend([1, 2, 3], [3, 2, 1]) == -1.0
    for c in study.CLAIMS:  # every claim lives in the module of the step it reads first
        owner = EXPERIMENTS[next(s.experiment for s in study.STEPS if s.name == c.needs[0])]
        assert c in owner.CLAIMS


def test_classifier_claim_holds_replicates_to_the_retraining_margin():
    from types import SimpleNamespace

    from scipy import stats

    from experiment_modules import face
    oe = face("output_entropy")

    def res(lo, hi, drop=0.0, examples=200, margin=0.1):
        r = {"teacher_accuracy": 0.95, "student_hard_accuracy": 0.95 - drop, "student_hard_accuracy_drop": drop,
             "test_size": 100}
        for g in oe.GROUPS:
            r |= {f"student_hard_{g}_significant": 0.0, f"student_hard_{g}_delta_low": lo,
                  f"student_hard_{g}_delta_high": hi, f"student_hard_{g}_delta": (lo + hi) / 2,
                  f"teacher_{g}_margin": margin, f"teacher_{g}_retrain_rms": margin / 1.96,
                  f"student_hard_{g}_examples": examples, f"student_hard_{g}_replicates": 10}
        typed = _typed({"output-entropy-all": {"wine-mlp": r}})
        typed["output-entropy-all"].config = SimpleNamespace(replicates=10)
        return typed

    claim = _claim("classifiers")
    assert claim.evaluate(res(-0.02, 0.03)).status == "reproduced"         # within ±0.1
    # The effect absent (the student changes the entropy by more than retraining does):
    assert claim.evaluate(res(0.3, 0.45)).status == "not reproduced"      # wholly outside
    assert claim.evaluate(res(0.05, 0.2)).status == "inconclusive"        # straddles the margin
    assert claim.evaluate(res(-0.02, 0.03, drop=0.1)).status == "not reproduced"  # accuracy dropped
    # The margin's own uncertainty: outside the margin's estimate but within its 95% high end
    # refutes nothing (0.1 estimated from 10 teacher pairs may be 0.175).
    assert claim.evaluate(res(0.13, 0.16)).status == "inconclusive"
    f = claim.evaluate(res(-0.02, 0.03))
    # Three judged groups: each read at the 1 − 0.05/3 level; the margin at its low end.
    half = 0.025 / stats.t.ppf(0.975, 9) * stats.t.ppf(1 - 0.025 / 3, 9)
    low_margin = 1.96 * 0.1 / 1.96 * np.sqrt(10 / stats.chi2.ppf(0.975, 10))
    assert f.interval == pytest.approx((1 - (0.005 + half) / low_margin, 1.0)) and f.replicates == 10
    assert "Bonferroni" in f.evidence
    # Groups too small to judge (under 10 examples per replicate) are named and left out; with
    # none left the claim is not reproduced.
    few = claim.evaluate(res(0.3, 0.45, examples=60))
    assert few.status == "not reproduced" and "too few to judge" in few.evidence and "no group" in few.evidence
    # An empty group is NaN in memory, None after JSON: neither counts as a group.
    for empty in (float("nan"), None):
        r = res(-0.02, 0.03)
        run = r["output-entropy-all"].runs["wine-mlp"]
        run.student_hard_incorrect_significant = empty
        run.student_hard_incorrect_delta = empty
        assert "2 of 2 groups overlap" in claim.evaluate(r).evidence
