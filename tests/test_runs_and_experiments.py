"""Run directories (atomic writes, resume) and the linear experiments' numbers."""

import json

import numpy as np
import pytest

from jaxkd.study import EXPERIMENTS
from experiment_modules import face
bootstrap = face("bootstrap")
teacher_noise = face("teacher_noise")
variance_aware = face("variance_aware")
from jaxkd.runs import RunDir, atomic_write_json, to_jsonable


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": np.float64(1.5), "y": np.arange(3), "z": float("nan")})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1, 2], "z": None}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_rundir_refuses_reuse_and_config_mismatch(tmp_path):
    RunDir.open(tmp_path / "r", {"a": 1})
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        RunDir.open(tmp_path / "r", {"a": 1})
    with pytest.raises(ValueError, match="different config \\(a differ"):
        RunDir.open(tmp_path / "r", {"a": 2}, resume=True)
    RunDir.open(tmp_path / "r", {"a": 1}, resume=True)
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    (tmp_path / "r" / "config.json").write_text(json.dumps({**cfg, "jaxkd": "0.0.1"}))
    RunDir.open(tmp_path / "r", {"a": 1}, resume=True)  # the version string alone (a docs-only commit) is no bar
    (tmp_path / "r" / "config.json").write_text(json.dumps({**cfg, "jaxkd": "0.0.1", "code": "0" * 64}))
    with pytest.raises(ValueError, match="written by other code \\(jaxkd 0.0.1, source 000000000000"):
        RunDir.open(tmp_path / "r", {"a": 1}, resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a jaxkd run folder"):
        RunDir.open(tmp_path / "other", {"a": 1})


def test_teacher_noise_matches_closed_forms():
    cfg = teacher_noise.Config.from_preset("quick", num_students=400, alphas=(0.0, 0.5, 2.0))
    res = teacher_noise.run(cfg)
    v, se, pred = map(np.asarray, (res.inter_student_variance, res.inter_student_variance_se,
                                   res.predicted_variance))
    assert v[0] == pytest.approx(0.0, abs=1e-20)
    assert np.all(np.abs(v - pred) <= 5 * se + 1e-20)
    np.testing.assert_allclose(res.mse_teacher, res.predicted_mse_teacher, rtol=0.15, atol=1e-20)
    np.testing.assert_allclose(pred, np.asarray(res.alpha) * res.c, rtol=1e-10)


def test_teacher_noise_one_program_path_equals_the_sharded_path(x64):
    """On one device a linear sweep's levels run as one compiled program; with --chunk each
    level goes through map_students. Same keys, same students: the metrics agree to rounding,
    level by level, and one level alone is the same as that level among all of them."""
    from jaxkd import rng
    from jaxkd.experiments import regression

    task = regression.linear_task("boston")
    noise = rng.stream(0, "teacher_noise")
    sigma2s = [0.5 * task.var_y, 1.5 * task.var_y, 0.0]
    every = teacher_noise._simulate_all(task, sigma2s, noise, [0, 3, 5], 64)
    for j, (index, sigma2) in enumerate(zip([0, 3, 5], sigma2s)):
        chunked = teacher_noise._simulate(task, sigma2, noise, index, 64, chunk=16)
        alone = teacher_noise._simulate(task, sigma2, noise, index, 64)
        assert every.keys() == chunked.keys() == alone.keys()
        for key in every:
            np.testing.assert_allclose(every[key][j], chunked[key], rtol=1e-10, atol=1e-15, err_msg=key)
            np.testing.assert_allclose(every[key][j], alone[key], rtol=1e-12, atol=1e-15, err_msg=key)
    assert every["inter_student_variance"][1] > every["inter_student_variance"][0] > 0


def test_bootstrap_teacher_labelled_is_degenerate_and_truth_decays():
    res = bootstrap.run(bootstrap.Config.from_preset("quick", num_students=100, sizes=(50, 100, 404)))
    assert max(res.teacher_variance_full_rank) < 1e-20  # 5.1
    tv = res.truth_variance
    assert tv[0] > tv[1] > tv[2] > 0  # 5.2: decays with b
    assert all(f > 0.9 for f in res.full_rank_fraction)


def test_variance_aware_averaging_decays_as_one_over_k():
    res = variance_aware.run(variance_aware.Config.from_preset("quick", num_students=300,
                                                               alphas=(1.0,), ks=(1, 4, 16)))
    v, se, pred = (np.asarray(getattr(res, k)) for k in ("average_variance", "average_variance_se",
                                                  "predicted_average_variance"))
    assert np.all(np.abs(v - pred) <= 5 * se)
    # The leverage oracle leans on the clean mean: far below averaging at every k.
    assert np.all(np.asarray(res.leverage_oracle_variance) < 0.5 * v)
    # The study's weighting is averaging at k = 1 (zero sample variance), exactly; with k >= 2
    # it pulls towards the clean mean, below averaging.
    study = np.asarray(res.study_variance)
    assert study[0] == v[0] and res.study_mse_truth[0] == res.average_mse_truth[0]
    assert np.all(study[1:] < v[1:])
    # Honest weighting stays within 20% of averaging (it cannot use the clean mean).
    np.testing.assert_allclose(res.honest_variance, v, rtol=0.2)


SMALL = {
    "teacher-noise": {"num_students": 20},
    "bootstrap": {"num_students": 20},
    "variance-aware": {"num_students": 20},
    "init-perturbation": {"num_students": 4, "epochs": 10, "scales": (0.0, 0.1)},
    "variance-attribution": {"num_students": 4, "frozen_draws": 2, "epochs": 3},
    "output-entropy": {"datasets": ("wine",), "epochs": 20, "replicates": 2},
    "objectives": {"datasets": ("wine",), "epochs": 10, "student_epochs": 30, "hard_epochs": 10, "num_seeds": 2},
}


def assert_resume_reproduces(tmp_path, name, cfg, before_resume=lambda: None):
    """Run ``name`` fully; then simulate a crash (keep only the first finished point), call
    ``before_resume`` and resume: the results must be identical."""
    module = EXPERIMENTS[name]
    config = {"experiment": name, **cfg.__dict__}
    full = module.run(cfg, RunDir.open(tmp_path / "full", config))
    RunDir.open(tmp_path / "part", config)
    first = sorted((tmp_path / "full" / "points").iterdir())[0]
    (tmp_path / "part" / "points").mkdir()
    (tmp_path / "part" / "points" / first.name).write_bytes(first.read_bytes())
    before_resume()
    resumed = module.run(cfg, RunDir.open(tmp_path / "part", config, resume=True))
    assert json.dumps(to_jsonable(resumed)) == json.dumps(to_jsonable(full))


@pytest.mark.parametrize("name", list(SMALL))  # the llm-* experiments: tests/test_llm_study.py
def test_resume_reproduces_uninterrupted_run(tmp_path, name):
    assert_resume_reproduces(tmp_path, name, EXPERIMENTS[name].Config.from_preset("quick", **SMALL[name]))


@pytest.mark.parametrize("module, overrides, match", [
    (teacher_noise, {"num_students": 1}, "at least 2"),
    (teacher_noise, {"alphas": (-0.1,)}, "non-negative"),
    (teacher_noise, {"alphas": ()}, "at least one value"),
    (teacher_noise, {"model": "gpt2"}, "unknown model"),
    (teacher_noise, {"dataset": "digits"}, "classification set"),
    (variance_aware, {"ks": (0, 3)}, "at least 1"),
    (variance_aware, {"alphas": (0.0,)}, "positive"),
    (bootstrap, {"sizes": (1,)}, "at least 2"),
    (teacher_noise, {"bogus": 1}, "no option bogus"),
])
def test_bad_configs(module, overrides, match):
    with pytest.raises(ValueError, match=match):
        module.Config.from_preset("quick", **overrides)


def test_bootstrap_size_above_n_is_refused():
    with pytest.raises(ValueError, match="exceed the 404 training rows"):
        bootstrap.run(bootstrap.Config.from_preset("quick", sizes=(500,)))


def test_teacher_noise_mse_variance_follows_x1_at_every_level():
    """The experiment's own X.1 column (one broadcast over all noise levels) against its
    simulated variance of the test MSE: within 5 SE at each level, and growing faster than α."""
    res = teacher_noise.run(teacher_noise.Config.from_preset("quick", num_students=400, alphas=(0.5, 1.0, 2.0)))
    sim, se, pred = (np.asarray(getattr(res, k)) for k in ("mse_truth_variance", "mse_truth_variance_se",
                                                    "predicted_mse_truth_variance"))
    assert np.all(np.abs(sim - pred) <= 5 * se)
    assert pred[2] / pred[1] > 2.0 and pred[1] / pred[0] > 2.0  # super-linear in α (X.1)


def test_bootstrap_records_the_sandwich_beside_5_2():
    res = bootstrap.run(bootstrap.Config.from_preset("quick", num_students=300, sizes=(50, 404)))
    V, sandwich, homo = (np.asarray(getattr(res, k)) for k in ("truth_variance", "sandwich_truth_variance",
                                                      "predicted_truth_variance"))
    assert 0.85 < V[1] / sandwich[1] < 1.3      # X.2 holds on Boston at b = n
    assert V[1] / homo[1] > 1.3                 # 5.2's homoscedastic form does not
    assert V[0] / sandwich[0] > V[1] / sandwich[1]  # the small-b gap the report states
    assert np.all(np.asarray(res.observed_truth_mse) > np.asarray(res.predicted_truth_mse))


def test_results_are_typed_frozen_and_round_trip_through_json():
    import dataclasses

    cfg = teacher_noise.Config.from_preset("quick", num_students=20, alphas=(0.0, 1.0))
    res = teacher_noise.run(cfg)
    assert isinstance(res, teacher_noise.Results) and res.config is cfg
    assert isinstance(res.inter_student_variance, tuple) and len(res.inter_student_variance) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.c = 0.0
    data = json.loads(json.dumps(to_jsonable(res)))
    assert data["config"]["num_students"] == 20 and "linear_c" not in data  # None-valued MLP fields left out
    assert teacher_noise.Results.from_json(cfg, data) == res
    values = {k: v for k, v in data.items() if k != "config"}
    with pytest.raises(TypeError, match="unexpected \\['bogus'\\]"):
        teacher_noise.Results.build(cfg, {**values, "bogus": 1.0})
    del values["alpha"]
    with pytest.raises(TypeError, match="missing \\['alpha'\\]"):
        teacher_noise.Results.build(cfg, values)


def test_every_experiment_has_the_face_and_a_drifting_one_is_refused(monkeypatch):
    """The study's table names each experiment's package; its record finds the config, run,
    report and claims modules' names, and refuses a module that lacks one or binds it to the
    wrong kind of thing, naming it."""
    import sys
    import types

    from jaxkd.experiments.experiment import Experiment
    from jaxkd.study import EXPERIMENTS

    for name, experiment in EXPERIMENTS.items():
        assert experiment.name == name and experiment.summary and experiment.description
        assert experiment.Config and experiment.Results and experiment.CLAIMS is not None
        assert callable(experiment.run) and callable(experiment.figures) and callable(experiment.document)
    good = EXPERIMENTS["teacher-noise"]
    parts = {p: types.ModuleType(f"fake.{p}") for p in ("config", "run", "report", "claims")}
    parts["config"].Config, parts["claims"].CLAIMS = good.Config, good.CLAIMS
    parts["run"].Results, parts["run"].run = good.Results, good.run
    parts["report"].figures, parts["report"].document = good.figures, good.document
    monkeypatch.setitem(sys.modules, "fake", types.ModuleType("fake", "A fake experiment. It has a face."))
    for p, module in parts.items():
        monkeypatch.setitem(sys.modules, f"fake.{p}", module)
    fake = Experiment("fake", "fake")
    assert fake.summary == "A fake experiment." and fake.document is good.document
    del parts["report"].document
    with pytest.raises(TypeError, match=r"fake.report.document must be a function of \(results\)"):
        fake.document
    parts["run"].Results = dict
    with pytest.raises(TypeError, match="fake.run.Results must be a dataclass subclass"):
        fake.Results
    parts["claims"].CLAIMS = [object()]
    with pytest.raises(TypeError, match="fake.claims.CLAIMS must be a tuple"):
        fake.CLAIMS
    parts["config"].Config = dict
    with pytest.raises(TypeError, match="fake.config.Config must be a frozen dataclass"):
        fake.Config



def test_ensemble_results_hold_every_ensemble_metric_by_its_name():
    """The typed record of one ensemble's measures and the results that hold one per grid point
    name the same quantities (a metric added to one and not the other fails here)."""
    import dataclasses

    from jaxkd.experiments.results import EnsembleResults
    from jaxkd.uncertainty import EnsembleMetrics

    held = [f.name for f in dataclasses.fields(EnsembleResults) if f.name != "config"]
    assert sorted(held) == sorted(EnsembleMetrics._fields) and len(held) == 8


@pytest.mark.parametrize("name, model, grid, alone, listed", [
    ("teacher-noise", "linear", "alphas", (1.0,), (0.5, 1.0)),
    ("teacher-noise", "mlp", "alphas", (1.0,), (0.5, 1.0)),
    ("init-perturbation", "mlp", "scales", (0.1,), (0.0, 0.1)),
    ("bootstrap", "linear", "sizes", (40,), (20, 40)),
    ("variance-aware", "linear", "alphas", (1.0,), (0.1, 1.0)),
    ("variance-aware", "mlp", "ks", (3,), (1, 3)),
])
def test_a_grid_points_numbers_do_not_depend_on_which_other_points_run(tmp_path, name, model, grid, alone, listed):
    """Every grid point (a noise level, a scale, a size, an (α, k)) draws from keys named by its
    value (rng.grid_id), not by its place in the grid: the point run alone is bitwise the same
    point of a grid listing another before it (planted: keys by grid position fail)."""
    small = {k: v for k, v in SMALL[name].items() if k != grid}
    if model == "mlp":
        small |= {"epochs": 10, "num_students": 4}
    if name == "variance-aware":  # one value on its other grid
        small |= {"ks": (3,)} if grid == "alphas" else {"alphas": (1.0,)}
    experiment = EXPERIMENTS[name]
    runs = {}
    for label, values in (("alone", alone), ("listed", listed)):
        cfg = experiment.Config.from_preset("quick", model=model, **{grid: values}, **small)
        experiment.run(cfg, RunDir.open(tmp_path / label, {"experiment": name, **cfg.__dict__}))
        runs[label] = sorted((tmp_path / label / "points").glob("*.json"))
    # The shared point: the only one alone, the last one listed (each grid's last value).
    mlp_points = [p for p in runs["listed"] if not p.name.startswith("linear-")]
    one = [p for p in runs["alone"] if not p.name.startswith("linear-")]
    assert len(one) == 1 and json.loads(one[0].read_text()) == json.loads(mlp_points[-1].read_text())


@pytest.mark.parametrize("name", ["output-entropy", "objectives"])
def test_a_cells_numbers_do_not_depend_on_which_other_cells_run(name):
    """Every (dataset, model class) cell draws its teachers and students from keys named by the
    cell, not by its place in the lists: breast-cancer's MLP cell alone is bitwise the cell of a
    run that lists wine first and both model classes (planted: keys by list position fail)."""
    from jaxkd.study import EXPERIMENTS

    experiment = EXPERIMENTS[name]
    small = {k: v for k, v in SMALL[name].items() if k != "datasets"}
    alone = experiment.run(experiment.Config.from_preset("quick", datasets=("breast-cancer",), model="mlp", **small))
    both = experiment.run(experiment.Config.from_preset("quick", datasets=("wine", "breast-cancer"),
                                                        models=("logistic", "mlp"), **small))
    assert list(alone.runs) == ["breast-cancer-mlp"] and "breast-cancer-mlp" in both.runs
    assert json.dumps(to_jsonable(alone.runs["breast-cancer-mlp"])) == json.dumps(to_jsonable(both.runs["breast-cancer-mlp"]))
