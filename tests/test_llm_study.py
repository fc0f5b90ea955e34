"""The llm-* experiments end to end on a tiny corpus, the paper-preset path on tiny random
Hugging Face checkpoints, and bad inputs."""

import dataclasses
import json
import math
from pathlib import Path

import pytest

from jaxkd.experiments import EXPERIMENTS
from jaxkd.report import write_step
from jaxkd.runs import RunDir, to_jsonable

TINY = dict(num_questions=5, teacher_steps=40, base_steps=10, student_steps=8, samples=3, num_students=2)
EXTRA = {"llm-teacher-noise": {"temperatures": (0.7, 1.5)}, "llm-noise-transfer": {"temperatures": (1.0,)},
         "llm-init": {"scales": (0.0, 0.05)}, "llm-output": {}, "llm-variance-aware": {"ks": (2,)}}


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for val in obj.values():
            yield from _finite_numbers(val)
    elif isinstance(obj, list):
        for val in obj:
            yield from _finite_numbers(val)
    else:
        yield obj


@pytest.mark.parametrize("name", list(EXTRA))
def test_llm_experiment_end_to_end(tmp_path, name):
    module = EXPERIMENTS[name]
    cfg = module.Config.from_preset("quick", **TINY, **EXTRA[name])
    run_dir = RunDir.open(tmp_path / name, {"experiment": name, **cfg.__dict__})
    res = module.run(cfg, run_dir)
    report = write_step(module, res, run_dir)
    run_dir.write_json("results.json", res)
    saved = json.loads((tmp_path / name / "results.json").read_text())
    assert saved.pop("config") == to_jsonable(dataclasses.asdict(cfg))
    values = list(_finite_numbers(saved))
    assert values and all(isinstance(x, (int, float)) and math.isfinite(x) for x in values)
    assert "| " in report and "nan" not in report.lower()
    for png in Path(tmp_path / name).glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    if name == "llm-variance-aware":
        assert res.systematic_noise[0] == 0.0  # the direct fine-tune is its own reference
        assert res.pairs[2] == 2 * 5  # multi-response k=2: every sample of 5 prompts
    if name == "llm-output":
        assert 0.0 <= res.narrower_share <= 1.0 and len(res.prompt_student_entropy) == 5
    if name == "llm-init":
        traj = res.trajectories[0]
        assert len(traj) == 2 and len(traj[0]) == 3 and len(traj[0][0]) == TINY["student_steps"]


@pytest.mark.slow  # 60 s; the sweep's resume is held to the same standard for every tabular experiment
def test_llm_resume_reproduces_uninterrupted_run(tmp_path):
    from test_runs_and_experiments import assert_resume_reproduces

    # Each run folder has its own shared folder, so the resumed run rebuilds the setup cold.
    cfg = EXPERIMENTS["llm-noise-transfer"].Config.from_preset("quick", **TINY, temperatures=(0.7, 1.3))
    assert_resume_reproduces(tmp_path, "llm-noise-transfer", cfg)


def test_shared_llm_work_gives_the_numbers_of_a_separate_run(tmp_path):
    """llm-noise-transfer after llm-teacher-noise in one shared folder reuses its setup and
    distillations (same keys and temperatures); the result must equal a cold run's."""
    # Point 1 has the same key in both but another temperature: a cache that ignored the
    # temperature would hand noise-transfer the T = 1.0 students.
    cfgs = {n: EXPERIMENTS[n].Config.from_preset("quick", **TINY, temperatures=temps)
            for n, temps in (("llm-teacher-noise", (0.7, 1.0, 1.3)), ("llm-noise-transfer", (0.7, 1.3)))}

    def run(name, folder, shared):
        cfg = cfgs[name]
        return EXPERIMENTS[name].run(cfg, RunDir.open(tmp_path / folder, {"experiment": name, **cfg.__dict__},
                                                      shared=shared))

    run("llm-teacher-noise", "a", tmp_path / "shared")
    works = set((tmp_path / "shared").glob("work-*.json"))
    warm = run("llm-noise-transfer", "b", tmp_path / "shared")
    assert len(list((tmp_path / "shared").glob("setup-*"))) == 1  # the teacher trained once
    # noise-transfer adds its direct reference and point 1 (T = 1.3 under point 1's key); its
    # point 0 (T = 0.7, same key) was reused.
    assert len(set((tmp_path / "shared").glob("work-*.json")) - works) == 2
    cold = run("llm-noise-transfer", "c", None)
    assert not (tmp_path / "shared" / "c").exists() and (tmp_path / "c" / "shared").is_dir()
    assert json.dumps(to_jsonable(warm)) == json.dumps(to_jsonable(cold))


def test_cache_keys_hash_every_field():
    """A setup field or a shared-work field that changes changes the key (nothing hand-listed)."""
    import dataclasses

    from jaxkd.experiments import llm_common as lc

    cfg = EXPERIMENTS["llm-output"].Config.from_preset("quick", **TINY)
    scfg = lc.SetupConfig.of(cfg)
    changed = {int: lambda x: x + 1, float: lambda x: x * 2, type(None): lambda x: "elsewhere", str: lambda x: x + "x"}
    for f in dataclasses.fields(lc.SetupConfig):
        other = dataclasses.replace(scfg, **{f.name: changed[type(getattr(scfg, f.name))](getattr(scfg, f.name))})
        assert lc.setup_key(other) != lc.setup_key(scfg), f.name
    base = lc.work_key(cfg, "direct")
    for f in dataclasses.fields(lc.LLMConfig):
        if f.name in ("preset", "model", "teacher", "student", "qa_file"):
            continue  # checked above or fixed by validation
        value = getattr(cfg, f.name)
        object.__setattr__(cfg, f.name, changed[type(value)](value))  # frozen: bypass only in this test
        assert lc.work_key(cfg, "direct") != base, f.name
        object.__setattr__(cfg, f.name, value)
    assert lc.work_key(cfg, "direct") == base


def test_every_experiment_is_covered_by_a_resume_test():
    from test_runs_and_experiments import SMALL

    assert set(EXPERIMENTS) == set(SMALL) | set(EXTRA)


def test_paper_preset_on_tiny_hf_checkpoints(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from jaxkd.data import qa
    from jaxkd.llm import tokenizer

    fixture = Path(__file__).parent / "fixtures" / "bioasq_small.json"
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
    module = EXPERIMENTS["llm-output"]
    cfg = module.Config.from_preset("paper", teacher=str(folders["teacher"]), student=str(folders["student"]),
                                    qa_file=str(fixture), num_students=2, teacher_steps=5, student_steps=3,
                                    samples=2, max_new_tokens=8, batch_size=2)
    res = module.run(cfg)
    assert len(res.prompt_true_entropy) == 2 and res.true_entropy == 0.0


@pytest.mark.parametrize("name, overrides, match", [
    ("llm-teacher-noise", {"temperatures": (0.0, 1.0)}, "must be positive"),
    ("llm-variance-aware", {"ks": (1, 3)}, "at least 2"),
    ("llm-output", {"num_questions": 0}, "at least 1"),
    ("llm-output", {"num_students": 1}, "at least 2"),
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

    from jaxkd.experiments.llm_teacher_noise import shared_bins

    teacher, student = np.linspace(-1, 1, 20), np.zeros(10)  # every student answer the same
    edges = shared_bins(teacher, student)
    assert edges[0] < -1 and edges[-1] > 1 and len(edges) == 11
    counts, _ = np.histogram(student, bins=edges)
    assert counts.sum() == 10  # the identical answers land in a bar of non-zero width
    same = shared_bins(np.full(5, 0.3), np.full(5, 0.3))
    assert same[0] < 0.3 < same[-1] and np.all(np.diff(same) > 0)
