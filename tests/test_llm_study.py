"""The llm-* experiments end to end on a tiny corpus, the paper-preset path on tiny random
Hugging Face checkpoints, and bad inputs."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from jaxkd.study import EXPERIMENTS
from jaxkd import document as doc
from jaxkd.report import write_step
from jaxkd.runs import RunDir, to_jsonable

TINY = dict(num_questions=5, teacher_epochs=2, base_epochs=2, epochs=2, batch_size=4, samples=3,
            num_students=2, replicates=2, rungs=())  # the fit ladder: test_llm_rungs_read_one_training_run
EXTRA = {"llm-teacher-noise": {"temperatures": (0.7, 1.5)}, "llm-noise-transfer": {"temperatures": (1.0,)},
         "llm-init": {"scales": (0.0, 0.05), "tracked_students": 2, "mlp_replicates": 3}, "llm-output": {"temperatures": (0.7, 1.0)},
         "llm-variance-aware": {"ks": (2,)}, "llm-objectives": {"temperatures": (2.0,), "max_new_tokens": 6},
         "llm-topk": {"ks": (2,)}}


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for val in obj.values():
            yield from _finite_numbers(val)
    elif isinstance(obj, list):
        for val in obj:
            yield from _finite_numbers(val)
    else:
        yield obj


def _claim_evidence(res, key: str) -> str:
    from jaxkd import study

    return next(c for c in study.CLAIMS if c.key == key).evaluate({"llm-variance-aware-gpt2": res}).evidence


@pytest.fixture(scope="module")
def shared_work(tmp_path_factory):
    """One shared folder for the end-to-end runs of a test process, as ``jaxkd reproduce`` shares
    one between its steps: the setup, teacher references and direct fine-tune of ``TINY`` are
    built once (content-hashed; that sharing gives a separate run's numbers is tested below)."""
    return tmp_path_factory.mktemp("shared")


@pytest.mark.parametrize("name", list(EXTRA))
def test_llm_experiment_end_to_end(tmp_path, name, shared_work):
    module = EXPERIMENTS[name]
    cfg = module.Config.from_preset("quick", **TINY, **EXTRA[name])
    run_dir = RunDir.open(tmp_path / name, {"experiment": name, **cfg.__dict__}, shared=shared_work)
    res = module.run(cfg, run_dir)
    report = doc.to_markdown(write_step(module, res, run_dir))
    run_dir.write_json("results.json", res)
    saved = json.loads((tmp_path / name / "results.json").read_text())
    assert saved.pop("config") == to_jsonable(dataclasses.asdict(cfg))
    # Measures on the valid answers alone are undefined (NaN, saved as null) when a model gave none;
    # every other value is a finite number.
    maybe_empty = {k for k in saved if k.startswith(("valid_", "teacher_valid_"))}
    values = [x for k, v in saved.items() if k not in maybe_empty for x in _finite_numbers(v)
              if not isinstance(x, str)]  # labels are strings
    assert values and all(isinstance(x, (int, float)) and math.isfinite(x) for x in values)
    assert "| " in report
    for png in Path(tmp_path / name).glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    steps = 4  # 2 passes over 5 pairs at batch 4: ceil(5 / 4) = 2 steps a pass
    if name == "llm-variance-aware":
        # The direct fine-tune's row: its students' systematic noise is the direct reference's.
        direct = res.label.index("direct fine-tune")
        assert res.systematic_noise[direct] == res.direct_systematic_noise[direct]
        # The quick preset trains the deciding rows only (the study's schedule is the paper preset's).
        # ... and multi-response at equal epochs per target (k x the steps), what decides.
        assert res.schedule == ("equal",) * 5 + ("epochs",) and len(res.label) == 6  # nor jaxkd's additions
        assert "soft" not in res.method and "variance-weighting" not in res.method
        assert "the study's schedule not run (--study-schedule)" in _claim_evidence(res, "llm-similarity")
        assert "the study's schedule not run (--study-schedule)" in report  # named in the departures table
        assert "(jaxkd's two additions: --jaxkd-methods)" in report
        # Equal compute: the single-response steps, the last pass over the larger set cut short.
        equal = res.label.index("multi-response k=2, equal")
        assert res.steps[equal] == steps and res.steps[res.method.index("single")] == steps
        assert res.passes[equal] == pytest.approx(steps * 4 / 10)
        epochs = res.label.index("multi-response k=2, equal epochs")  # 2 passes over 10 pairs: 3 steps each
        assert res.steps[epochs] == 2 * 3 and res.passes[epochs] == 2.0
    if name == "llm-objectives":
        assert len(res.objective) == 9 and set(res.steps) == {steps}  # every objective at equal compute
        seq3 = res.objective.index("sequence-level k=3")
        assert res.c1_student_entropy[seq3] > res.c1_student_entropy[res.objective.index("sequence-level k=1")]
    if name == "llm-topk":
        # Both budgets x (top-2 in both forms, the full distribution); every row from the file but the full one.
        assert res.target == ("top-2 + tail", "top-2 renormalised", "full distribution") * 2
        assert res.budget == ("equal steps",) * 3 + ("converged",) * 3
        assert set(res.steps[:3]) == {steps} and all(s <= 3 * steps for s in res.steps[3:])
        assert res.full_bytes_per_token == 4 * res.vocab_size and res.bytes_per_token[:2] == (2 * 6 + 4,) * 2
        positions = res.file_bytes[0] // res.bytes_per_token[0]
        assert all(res.file_bytes[i] == positions * res.bytes_per_token[i] for i in range(6))
        # The teacher's tail is the same in either form; the students' masses and ECEs are shares.
        assert res.teacher_tail_mass[0] == res.teacher_tail_mass[1] and 0 < min(res.teacher_tail_mass[0]) < 1
        assert all(0.0 <= x <= 1.0 for row in res.student_tail_mass + res.next_token_ece for x in row)
        assert set(res.converged_share[0]) == {0.0} and res.tail_k == (2,) * 6
    if name == "llm-output":
        # Identical students within a replicate: the measures without a floor are exactly 0,
        # the uncorrected between-student variance is its sampling floor.
        for i in range(2):
            assert res.greedy_disagreement[i] == (0.0, 0.0) and max(res.logprob_spread[i]) < 1e-20
            assert min(res.inter_student_variance[i]) > 0
            assert len(res.prompt_student_entropy) == 5 and all(0.0 <= x <= 1.0 for x in res.narrower_share[i])
    if name == "llm-init":
        traj = res.trajectories[0]
        assert len(traj) == 2 and len(traj[0]) == 3 and len(traj[0][0]) == steps + 1
        assert res.spread_before[0] == (0.0, 0.0) and res.greedy_disagreement[0] == (0.0, 0.0)  # s = 0: identical
        assert min(res.spread_before[1]) > 0 and min(res.mlp_spread_before[1]) > 0
    if name in ("llm-teacher-noise", "llm-variance-aware"):
        # Init and data order are fixed: students differ only through their own teacher draws, so
        # shared draws would make every student the same model (spread exactly 0).
        rows = range(len(res.logprob_spread)) if name == "llm-teacher-noise" else [res.method.index("single")]
        assert all(min(res.logprob_spread[i]) > 1e-12 for i in rows)
    assert all(len(r) == 2 for r in res.alignment)  # one value per replicate


def test_llm_rungs_read_one_training_run(tmp_path, monkeypatch, shared_work):
    """A step judged at a rung reads the checkpoint its run at the full budget stored in the
    shared folder (no second training), and measures other students than where training ended:
    fewer steps, another training loss."""
    from jaxkd.llm import distill

    module = EXPERIMENTS["llm-teacher-noise"]
    cfg = module.Config.from_preset("quick", **{**TINY, "epochs": 4, "rungs": (2,)}, temperatures=(1.0,))
    shared = shared_work  # the setup of TINY (its key holds no distillation field)
    end = module.run(cfg, RunDir.open(tmp_path / "end", {"experiment": "x", **cfg.__dict__}, shared=shared))

    def no_training(*a, **k):
        raise AssertionError("a rung must not train again")

    monkeypatch.setattr(distill, "distill", no_training)
    rung_cfg = cfg.refits()["epoch-2"]
    rung = module.run(rung_cfg, RunDir.open(tmp_path / "rung", {"experiment": "x", **rung_cfg.__dict__},
                                            shared=shared))
    assert (end.steps, rung.steps) == ((8,), (4,)) and (end.passes, rung.passes) == ((4.0,), (2.0,))
    assert len(rung.loss_curve[0]) == 4 and rung.loss_curve[0] == end.loss_curve[0][:4]
    assert rung.train_loss != end.train_loss and rung.regime_direct_hallucination == end.regime_direct_hallucination
    assert "at rung 2 of the 4-epoch run" in measures_report(rung) and "where training ended" in measures_report(end)


def measures_report(res) -> str:
    from jaxkd.experiments.llm_study import report

    return report.regime_text(res)


@pytest.mark.slow  # 60 s; the sweep's resume is held to the same standard for every tabular experiment
def test_llm_resume_reproduces_uninterrupted_run(tmp_path):
    from test_runs_and_experiments import assert_resume_reproduces

    # Each run folder has its own shared folder, so the resumed run rebuilds the setup cold.
    cfg = EXPERIMENTS["llm-noise-transfer"].Config.from_preset("quick", **TINY, temperatures=(0.7, 1.3))
    assert_resume_reproduces(tmp_path, "llm-noise-transfer", cfg)


@pytest.mark.slow  # 27 s; every end-to-end test above runs in one shared folder, as reproduce does
def test_shared_llm_work_gives_the_numbers_of_a_separate_run(tmp_path):
    """llm-noise-transfer after llm-teacher-noise in one shared folder reuses its setup and
    distillations (same keys and temperatures); the result must equal a cold run's."""
    # Distillations are keyed by temperature: noise-transfer reuses T = 0.7 and must not be
    # handed another temperature's students for T = 1.6.
    cfgs = {n: EXPERIMENTS[n].Config.from_preset("quick", **TINY, temperatures=temps)
            for n, temps in (("llm-teacher-noise", (0.7,)), ("llm-noise-transfer", (0.7, 1.6)))}

    def run(name, folder, shared):
        cfg = cfgs[name]
        return EXPERIMENTS[name].run(cfg, RunDir.open(tmp_path / folder, {"experiment": name, **cfg.__dict__},
                                                      shared=shared))

    run("llm-teacher-noise", "a", tmp_path / "shared")
    works = set((tmp_path / "shared").glob("work-*.json"))
    warm = run("llm-noise-transfer", "b", tmp_path / "shared")
    assert len(list((tmp_path / "shared").glob("setup-*"))) == 1  # the teacher trained once
    # noise-transfer adds the T = 1.6 students and teacher reference; its T = 0.7 students and
    # teacher reference, and the direct fine-tune (teacher-noise's regime made it), were reused.
    assert len(set((tmp_path / "shared").glob("work-*.json")) - works) == 2
    cold = run("llm-noise-transfer", "c", None)
    assert not (tmp_path / "shared" / "c").exists() and (tmp_path / "c" / "shared").is_dir()
    assert json.dumps(to_jsonable(warm)) == json.dumps(to_jsonable(cold))


def test_cache_keys_hash_every_field():
    """A setup field or a shared-work field that changes changes the key (nothing hand-listed)."""
    import dataclasses

    from jaxkd.experiments.llm_study import config as lc
    from jaxkd.experiments.llm_study import setup

    cfg = EXPERIMENTS["llm-output"].Config.from_preset("quick", **TINY)
    scfg = lc.SetupConfig.of(cfg)
    changed = {int: lambda x: x + 1, float: lambda x: x * 2, type(None): lambda x: "elsewhere", str: lambda x: x + "x",
               tuple: lambda x: (*x, 1)}
    # (the optimizer field is a choice: its change is another name)
    for f in dataclasses.fields(lc.SetupConfig):
        other = dataclasses.replace(scfg, **{f.name: changed[type(getattr(scfg, f.name))](getattr(scfg, f.name))})
        assert setup.setup_key(other) != setup.setup_key(scfg), f.name
    base = setup.work_key(cfg, "direct")
    for f in dataclasses.fields(lc.LLMConfig):
        if f.name in ("preset", "model", "teacher", "student", "qa_file"):
            continue  # checked above or fixed by validation
        if f.name == "rung":  # which checkpoint is read, not what is trained: every rung shares one entry
            object.__setattr__(cfg, "rung", 1)
            assert setup.work_key(cfg, "direct") == base
            object.__setattr__(cfg, "rung", None)
            continue
        value = getattr(cfg, f.name)
        object.__setattr__(cfg, f.name, changed[type(value)](value))  # frozen: bypass only in this test
        assert setup.work_key(cfg, "direct") != base, f.name
        object.__setattr__(cfg, f.name, value)
    assert setup.work_key(cfg, "direct") == base


def test_every_experiment_is_covered_by_a_resume_test():
    from test_runs_and_experiments import SMALL

    assert set(EXPERIMENTS) == set(SMALL) | set(EXTRA)


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    """Random tiny Hugging Face GPT-2 folders (with Hugging Face's default dropout, 0.1) and a
    BioASQ-format QA file: the paper preset's inputs, small."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from jaxkd.data import qa
    from jaxkd.llm import tokenizer

    tmp_path = tmp_path_factory.mktemp("tiny-hf")
    fixture = Path(__file__).parent / "fixtures" / "bioasq_ten.json"  # 8 distillation, 2 held-out questions
    corpus = qa.load_bioasq(fixture)
    tok = tokenizer.train_bpe([f"Q: {it.question}\nA: {it.answers[0]}" for it in corpus.items] * 5, vocab_size=300)
    folders = {}
    for role, layers in (("teacher", 2), ("student", 1)):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=layers,
                                           n_head=2, bos_token_id=0, eos_token_id=0))
        folders[role] = tmp_path / role
        model.save_pretrained(folders[role])
        tok.save_pretrained(folders[role])
    return {"teacher": str(folders["teacher"]), "student": str(folders["student"]), "qa_file": str(fixture)}


PAPER_TINY = dict(num_students=2, replicates=2, teacher_epochs=1, epochs=1, samples=2,
                  max_new_tokens=8, batch_size=2)


# make test: the paper path of llm-variance-aware (Hugging Face folders with dropout, a BioASQ
# file, held-out questions, soft targets, single-answer criteria, the study's schedule);
# make test-all: all six.
PAPER_FAST = ("llm-variance-aware",)


@pytest.mark.parametrize("name", [n if n in PAPER_FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in EXTRA])
def test_paper_preset_on_tiny_hf_checkpoints(tiny_hf, name):
    """Every llm-* experiment end to end on the paper preset's code path: Hugging Face folders
    (their dropout applied in training), a BioASQ file, the Trainer's optimizer."""
    module = EXPERIMENTS[name]
    extra = {k: v for k, v in EXTRA[name].items() if k != "tracked_students"}
    if "temperatures" in extra:
        extra["temperatures"] = (1.0,)
    cfg = module.Config.from_preset("paper", **tiny_hf, **{**PAPER_TINY, **extra})
    assert cfg.optimizer == "trainer" and cfg.learning_rate == 5e-5
    res = module.run(cfg)
    assert all(len(r) == 2 for r in res.alignment)
    assert cfg.evaluation == "held-out" and res.single_answer  # held-out questions, cosine-to-reference criteria
    shown = doc.to_markdown(module.document(res))  # the report renders on single-answer criteria too
    assert "Departures from the study" in shown
    if name == "llm-output":
        assert res.prompt_true_entropy == (0.0, 0.0) and res.steps == (4,)  # 8 questions at batch 2, one epoch
    if name == "llm-variance-aware":  # the paper preset runs the study's schedule and the steps x method grid
        single = res.steps[res.label.index("single")]
        assert single == 4 and res.steps[res.label.index("single, 2× steps")] == 2 * single
        assert res.steps[res.label.index("multi-response k=2, 2× steps")] == 2 * single
        multi = res.label.index("multi-response k=2, study")  # epochs x k passes over k x the pairs: k² x the steps
        assert res.pairs[multi] == 2 * 8 and res.steps[multi] == 4 * single and res.passes[multi] == 2.0
        assert res.steps[res.label.index("averaging k=2, study")] == 2 * single
        assert "the study's schedule (compute-confounded)" in _claim_evidence(res, "llm-similarity")
        assert {"soft", "variance-weighting"} <= set(res.method)  # and jaxkd's two additions
        assert "the study's schedule and a steps × method grid beside" in shown
        assert "jaxkd's variance weighting and token-level soft targets" in shown


def test_paper_preset_memory_fits_a_24_gib_cpu_and_one_gpu(tmp_path, monkeypatch):
    """At the paper preset's shapes (DistilGPT2 students, GPT-2 teacher, 64 new tokens), every
    llm-* experiment trains its students in chunks that fit 24 GiB (where all of them at once
    would not) and 139 GiB."""
    from jaxkd import memory
    from jaxkd.experiments.llm_study import memory as llm_memory
    from jaxkd.llm import ModelConfig

    for role, shape in (("teacher", ModelConfig.gpt2()), ("student", ModelConfig.distilgpt2())):
        (tmp_path / role).mkdir()
        (tmp_path / role / "config.json").write_text(json.dumps(shape.to_hf()))
    qa_file = Path(__file__).parent / "fixtures" / "bioasq_ten.json"
    for gib, least in ((24, 1), (139, 20)):
        monkeypatch.setattr(memory, "available_bytes", lambda g=gib: g * 2**30)
        for name in EXTRA:
            cfg = EXPERIMENTS[name].Config.from_preset("paper", teacher=str(tmp_path / "teacher"),
                                                       student=str(tmp_path / "student"), qa_file=str(qa_file))
            e = llm_memory.estimate(cfg)
            if gib == 24:
                assert e.all_at_once > 0.8 * gib * 2**30      # all students at once would not fit
            assert e.chunk >= min(least, cfg.total_students) and e.peak <= 0.8 * gib * 2**30, (name, gib, e)
            llm_memory.guard_memory(cfg)                      # passes


@pytest.mark.parametrize("name, overrides, match", [
    ("llm-teacher-noise", {"temperatures": (0.0, 1.0)}, "must be positive"),
    ("llm-variance-aware", {"ks": (1, 3)}, "at least 2"),
    ("llm-output", {"num_questions": 0}, "at least 1"),
    ("llm-output", {"num_students": 1}, "at least 2"),
    ("llm-output", {"replicates": 1}, "at least 2"),
    ("llm-init", {"tracked_students": 5}, "cannot exceed"),
    ("llm-output", {"repetition_penalty": 0.9}, ">= 1"),
    ("llm-init", {"scales": (-0.01,)}, "non-negative"),
])
def test_bad_llm_configs(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        EXPERIMENTS[name].Config.from_preset("quick", **overrides)


def test_paper_preset_needs_paths(tmp_path):
    with pytest.raises(ValueError, match="needs --teacher and --student"):
        EXPERIMENTS["llm-output"].Config.from_preset("paper")
    with pytest.raises(ValueError, match="does not exist"):
        EXPERIMENTS["llm-output"].Config.from_preset(
            "paper", teacher=str(tmp_path / "t"), student=str(tmp_path / "s"), qa_file=str(tmp_path / "q.json"))


def test_pc1_histograms_share_edges_and_show_identical_answers():
    import numpy as np

    from jaxkd.experiments.llm_teacher_noise.report import shared_bins

    teacher, student = np.linspace(-1, 1, 20), np.zeros(10)  # every student answer the same
    edges = shared_bins(teacher, student)
    assert edges[0] < -1 and edges[-1] > 1 and len(edges) == 11
    counts, _ = np.histogram(student, bins=edges)
    assert counts.sum() == 10  # the identical answers land in a bar of non-zero width
    same = shared_bins(np.full(5, 0.3), np.full(5, 0.3))
    assert same[0] < 0.3 < same[-1] and np.all(np.diff(same) > 0)


def test_mean_interval_is_the_t_interval():
    from jaxkd.experiments.llm_study import stats as lc

    m, lo, hi = lc.mean_interval([1.0, 2.0, 3.0])  # sd 1, se 1/sqrt(3), t(0.975, 2) = 4.3027
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6) and m - lo == pytest.approx(hi - m)
    with pytest.raises(ValueError, match="two replicates"):
        lc.mean_interval([1.0])


def test_study_variance_weighting_uses_the_studys_variances():
    """Teacher samples (k = 2) and student samples (ks = 4) on one prompt, E = 2: the study's
    variances are ddof 0 and not divided by the sample count; jaxkd's are the variance of the mean."""
    import numpy as np

    from jaxkd.llm import selection

    t = np.array([[[1.0, 0.0], [0.0, 1.0]]])                       # mean (0.5, 0.5)
    s = np.array([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]]])  # mean (0.9, 0.2)
    _, v_t = selection.mean_and_variance(t, study=True)
    _, v_s = selection.mean_and_variance(s, study=True)
    assert v_t[0] == pytest.approx(0.25) and v_s[0] == pytest.approx((0.03 + 0.12) / 2)  # ddof 0, per dim
    _, j_t = selection.mean_and_variance(t)
    assert j_t[0] == pytest.approx(0.5 / 2)  # ddof 1 (0.5 per dim), divided by k = 2
    _, a_study = selection.variance_weighting(t, s, study=True)
    _, a_jaxkd = selection.variance_weighting(t, s)
    assert a_study[0] == pytest.approx((1 / 0.25) / (1 / 0.25 + 1 / 0.075))
    j_s = (np.var(s[0], axis=0, ddof=1).mean()) / 4
    assert a_jaxkd[0] == pytest.approx((1 / 0.25) / (1 / 0.25 + 1 / j_s))
    pairs = selection.select("variance-weighting-study", [["a", "b"]], t, s)
    assert pairs == [(0, "a")]  # the combination leans to the student's side, nearer sample "a"


def test_base_student_never_sees_a_question_with_its_answer():
    from jaxkd.data import qa
    from jaxkd.experiments.llm_study import setup as lc
    from jaxkd.llm import tokenizer

    corpus = qa.synthetic_qa(10)
    tok = tokenizer.train_bpe([lc.prompt_text(it.question) for it in corpus.items]
                              + [" " + t for it in corpus.items for ps in it.paraphrases for t in ps], vocab_size=300)
    data = lc.language_pairs(tok, [corpus])
    texts = [tok.decode(row[m.astype(bool)]) for row, m in zip(data.tokens, data.mask)]
    assert sum(t.startswith("Question:") for t in texts) == 10
    assert all(("Question:" in t) != ("Answer:" in t) for t in texts)  # a question or an answer, never both
    answers = {p for it in corpus.items for ps in it.paraphrases for p in ps}
    assert answers <= {t.split("Answer:", 1)[1].replace("<|endoftext|>", "").strip() for t in texts if "Answer:" in t}


def test_parameter_spread_and_amplification_by_hand():
    import numpy as np

    from experiment_modules import face
    llm_init = face("llm_init")

    # 2 replicates x 2 students; leaves of 1 and 2 parameters.
    a = np.array([[0.0], [2.0], [1.0], [1.0]])                 # variances: rep 0: 2, rep 1: 0
    b = np.array([[0.0, 0.0], [0.0, 4.0], [3.0, 0.0], [1.0, 0.0]])  # rep 0: 0, 8; rep 1: 2, 0
    spread = llm_init.parameter_spread({"a": a, "b": b}, 2)
    np.testing.assert_allclose(spread, [(2 + 0 + 8) / 3, (0 + 2 + 0) / 3])
    np.testing.assert_allclose(llm_init.amplification([1.0, 0.0], [3.0, 5.0]), [3.0, np.nan])


def test_chunks_of_students_start_and_spread_as_all_of_them_do():
    """Only a chunk's starting parameters are built (Task.base_states(lo, hi)): student s starts
    from replicate s // N's base whatever the chunk, and the spread accumulated chunk by chunk
    (llm-init) equals the spread of all students at once."""
    from types import SimpleNamespace

    import numpy as np

    from experiment_modules import face
    llm_init = face("llm_init")
    from jaxkd.experiments.llm_study import setup

    R, N = 3, 4
    bases = {"w": np.arange(R * 2.0).reshape(R, 2), "b": np.array([[10.0], [20.0], [30.0]])}
    task = SimpleNamespace(cfg=SimpleNamespace(num_students=N, total_students=R * N),
                           setup=SimpleNamespace(bases=bases))
    every = setup.Task.base_states(task)
    assert np.asarray(every["b"])[:, 0].tolist() == [10.0] * 4 + [20.0] * 4 + [30.0] * 4
    for lo, hi in ((0, 5), (5, 7), (7, 12)):
        part = setup.Task.base_states(task, lo, hi)
        for k in bases:
            np.testing.assert_array_equal(part[k], np.asarray(every[k])[lo:hi])
    rng = np.random.default_rng(0)
    states = {"w": rng.normal(size=(R * N, 2)), "b": rng.normal(size=(R * N, 1))}
    spread = llm_init.Spread(R, N)
    for lo, hi in ((0, 5), (5, 7), (7, 12)):
        spread.add({k: v[lo:hi] for k, v in states.items()}, lo)
    np.testing.assert_allclose(spread.value(), llm_init.parameter_spread(states, R), rtol=1e-12)


def test_draw_protocol_per_student_draws_differ_and_shared_answers_are_equal():
    """The teacher-noise and variance-aware protocol gives every student its own teacher draws;
    llm-output and llm-init give every student the same greedy answers."""
    from jaxkd import rng
    from jaxkd.experiments.llm_study import replicates as lc
    from jaxkd.experiments.llm_study import setup

    cfg = EXPERIMENTS["llm-teacher-noise"].Config.from_preset("quick", **TINY)
    task = setup.build_task(cfg)
    key = rng.stream(cfg.seed, "teacher_sampling")
    draws = lc.teacher_draws(task, key, 2, 1.5)
    assert len(draws) == cfg.total_students and all(len(d) == 5 and len(d[0]) == 2 for d in draws)
    assert len({str(d) for d in draws}) == cfg.total_students  # every student its own draws
    assert draws == lc.teacher_draws(task, key, 2, 1.5)          # and reproducible
    greedy = lc.greedy_answers(task)
    assert greedy == lc.greedy_answers(task) and len(greedy) == 5
    assert list(lc.teacher_reference(task, 1.0).greedy) == greedy


def test_greedy_disagreement_by_hand():
    """Two students, two prompts: the same answer counts 0 exactly; different answers count
    1 − cosine (0.4 here); the mean over prompts is 0.2."""
    import numpy as np

    from jaxkd.experiments.llm_study import measures as lc

    embs = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.6, 0.8]]])
    assert lc.greedy_disagreement([["x", "y"], ["x", "z"]], embs) == pytest.approx(0.2)
    assert lc.greedy_disagreement([["x", "y"], ["x", "y"]], embs[[0, 0]]) == 0.0


def test_evaluation_prompts_are_the_distillation_prompts_or_held_out():
    """The quick preset measures students on their distillation prompts; held-out evaluation
    asks the same synthetic questions in another phrasing (the same truth), or holds out 20% of a
    QA file's questions."""
    from jaxkd.experiments.llm_study import config as lc
    from jaxkd.experiments.llm_study import setup

    cfg = EXPERIMENTS["llm-output"].Config.from_preset("quick", **TINY)
    same = setup.corpora(lc.SetupConfig.of(cfg))
    assert same[0] is same[1]
    held = setup.corpora(lc.SetupConfig.of(dataclasses.replace(cfg, evaluation="held-out")))
    for a, b in zip(held[0].items, held[1].items):
        assert a.question != b.question and a.probs == b.probs and b.question == a.held_out
    paper = EXPERIMENTS["llm-output"].Config.from_preset(
        "quick", **TINY, evaluation="held-out", qa_file=str(Path(__file__).parent / "fixtures" / "bioasq_ten.json"))
    train, test = setup.corpora(lc.SetupConfig.of(paper))
    assert (len(train), len(test)) == (8, 2) and not {i.question for i in train.items} & {i.question for i in test.items}
    with pytest.raises(ValueError, match="evaluation"):
        EXPERIMENTS["llm-output"].Config.from_preset("quick", evaluation="test")


# make test: the quick preset's Llama-family setup (teacher and base students trained, stored in
# and read back from the shared folder) and llm-init's family-specific tracked parameters; every
# llm-* experiment reaches its models through that setup and jaxkd.llm.distill (whose Llama path
# tests/test_llm_distill.py tests). make test-all: every experiment end to end with --model llama.
def test_quick_llama_setup_trains_llama_models_and_is_keyed_apart(tmp_path):
    from jaxkd.experiments.llm_study import setup as llm_setup
    from jaxkd.experiments.llm_study.config import SetupConfig
    from jaxkd.llm import Llama

    cfg = EXPERIMENTS["llm-output"].Config.from_preset("quick", **TINY, model="llama")
    gpt2 = EXPERIMENTS["llm-output"].Config.from_preset("quick", **TINY)
    assert llm_setup.setup_key(SetupConfig.of(cfg)) != llm_setup.setup_key(SetupConfig.of(gpt2))
    made = llm_setup.load_setup(SetupConfig.of(cfg), tmp_path)
    again = llm_setup.load_setup(SetupConfig.of(cfg), tmp_path)  # read back from the shared folder
    for setup in (made, again):
        assert isinstance(setup.teacher, Llama) and isinstance(setup.base, Llama)
        assert setup.teacher.config.n_kv_head == 2 and setup.base.config.num_hidden_layers == 2
    assert made.teacher_losses[-1] < made.teacher_losses[0]
    np.testing.assert_array_equal(again.teacher_losses, made.teacher_losses)


def test_llm_init_tracks_the_same_parameters_in_either_family():
    import jax
    from flax import nnx

    from jaxkd.experiments.llm_init.run import TRACKED, _tracked
    from jaxkd.llm import LlamaConfig, ModelConfig, families

    for name, cfg in (("gpt2", ModelConfig.tiny(40, 0)), ("llama", LlamaConfig.tiny(40, 0))):
        model = families.init(cfg, jax.random.key(0))
        pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
        got = np.asarray(_tracked(nnx.state(model, nnx.Param)))
        if name == "gpt2":
            want = [pure["wte"]["embedding"][5, 0], pure["h"][0]["attn"]["c_attn"]["kernel"][0, 0],
                    pure["h"][1]["mlp"]["c_fc"]["kernel"][0, 0]]
        else:
            want = [pure["embed_tokens"]["embedding"][5, 0], pure["layers"][0]["self_attn"]["q_proj"]["kernel"][0, 0],
                    pure["layers"][1]["mlp"]["gate_proj"]["kernel"][0, 0]]
        np.testing.assert_array_equal(got, np.asarray(want))
        assert len(TRACKED[name]) == 3


@pytest.mark.slow  # 30-60 s each
@pytest.mark.parametrize("name", list(EXTRA))
def test_llm_experiment_with_llama_family_models(tmp_path, name):
    """``--model llama``: a small Llama teacher and tiny Llama students trained on the bundled
    corpus, the experiment end to end."""
    module = EXPERIMENTS[name]
    cfg = module.Config.from_preset("quick", **TINY, **EXTRA[name], model="llama")
    shared = tmp_path / "shared"
    shared.mkdir()
    res = module.run(cfg, RunDir.open(tmp_path / name, {"experiment": name, **cfg.__dict__}, shared=shared))
    assert all(len(r) == 2 for r in res.alignment)
    shown = doc.to_markdown(module.document(res))
    assert "Llama-family" in shown and "| " in shown


@pytest.fixture(scope="module")
def tiny_hf_llama(tmp_path_factory):
    """Random tiny Hugging Face folders of two Llama-family types (a Qwen2 teacher, a Llama
    student) sharing one tokenizer, and the BioASQ-format QA file."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from jaxkd.data import qa
    from jaxkd.llm import tokenizer

    tmp_path = tmp_path_factory.mktemp("tiny-hf-llama")
    fixture = Path(__file__).parent / "fixtures" / "bioasq_ten.json"
    corpus = qa.load_bioasq(fixture)
    tok = tokenizer.train_bpe([f"Q: {it.question}\nA: {it.answers[0]}" for it in corpus.items] * 5, vocab_size=300)
    shape = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=128, bos_token_id=0, eos_token_id=0, tie_word_embeddings=True)
    folders = {}
    for role, (cfg_cls, model_cls, layers) in (("teacher", (Qwen2Config, Qwen2ForCausalLM, 2)),
                                               ("student", (LlamaConfig, LlamaForCausalLM, 1))):
        torch.manual_seed(0)
        folders[role] = tmp_path / role
        model_cls(cfg_cls(**shape, num_hidden_layers=layers)).save_pretrained(folders[role])
        tok.save_pretrained(folders[role])
    return {"teacher": str(folders["teacher"]), "student": str(folders["student"]), "qa_file": str(fixture)}


def test_paper_preset_checkpoints_must_be_of_the_model_family(tiny_hf, tiny_hf_llama):
    cls = EXPERIMENTS["llm-output"].Config
    with pytest.raises(ValueError, match="the teacher checkpoint .* is a llama model but --model is gpt2; give --model "
                                         "llama"):
        cls.from_preset("paper", **tiny_hf_llama)
    with pytest.raises(ValueError, match="is a gpt2 model but --model is llama"):
        cls.from_preset("paper", **tiny_hf, model="llama")
    assert cls.from_preset("paper", **tiny_hf_llama, model="llama").positions == 128


@pytest.mark.slow  # 20-30 s; make test runs the quick preset with --model llama and the GPT-2 paper path
def test_paper_preset_on_tiny_llama_family_checkpoints(tiny_hf_llama):
    """The paper preset's code path with Llama-family folders: a Qwen2 teacher fine-tuned on its
    distillation questions, Llama students from the published student, held-out questions."""
    from jaxkd.llm import Llama

    module = EXPERIMENTS["llm-variance-aware"]
    cfg = module.Config.from_preset("paper", **tiny_hf_llama, model="llama", **{**PAPER_TINY, **EXTRA["llm-variance-aware"]})
    res = module.run(cfg)
    assert all(len(r) == 2 for r in res.alignment) and res.single_answer
    from jaxkd.llm import checkpoint

    assert isinstance(checkpoint.load(tiny_hf_llama["teacher"]), Llama)
    assert checkpoint.load(tiny_hf_llama["teacher"]).config.model_type == "qwen2"
