"""The study-independent distillation API (jaxkd.llm.distill): the README example, per-student
teacher draws, soft targets whose memory does not grow with the distillation set, bad input."""

import contextlib
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxkd.llm import GPT2Config, distill, sampling, tokenizer, training
from jaxkd.llm.model import init

ROOT = Path(__file__).parent.parent


def test_readme_distillation_example_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Distil your own language model"):readme.index("## Data\n")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # In this process (the example changes no global state), so imports and compiled programs
    # are shared with the other tests of this worker.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    rows = [line.rsplit(" ", 3) for line in out.getvalue().strip().splitlines()]
    assert [row[0] for row in rows] == ["averaging", "soft targets"]
    for _, alignment, corrected, steps in rows:
        assert -1.0 <= float(alignment) <= 1.0 and np.isfinite(float(corrected)) and int(steps) == 30


@pytest.fixture(scope="module")
def tiny():
    questions = ["one two", "three four", "five six"]
    tok = tokenizer.train_bpe(questions * 10 + ["seven eight nine ten"] * 10, vocab_size=280)
    cfg = GPT2Config.tiny(len(tok), tok.eos_token_id)
    return questions, tok, init(cfg, jax.random.key(0)), init(cfg, jax.random.key(1))


def _leaves(states):
    return [np.asarray(a) for a in jax.tree.leaves(states)]


def test_per_student_pairs_train_each_student_on_its_own(tiny):
    """Student i of a per-student run equals a run of student i alone on its own pairs."""
    questions, tok, _, student = tiny
    sets = [distill.encode_pairs(tok, questions, answers)
            for answers in (["a b", "c d", "e f"], ["seven", "eight nine", "ten ten ten"])]
    keys = jax.random.split(jax.random.key(5), 2)
    cfg = training.TrainConfig(total_steps=4, warmup_steps=1)
    both = distill.distil(student, distill.stack_pairs(sets, tok.eos_token_id), keys, cfg, batch_size=2)
    assert both.num_students == 2 and both.compute["pairs"] == 3
    for i in range(2):
        one = distill.distil(student, sets[i], keys[i:i + 1], cfg, batch_size=2)
        # The per-student set is padded to the longer one's length: same tokens, more padding.
        toks = sets[i].tokens[:1]
        np.testing.assert_allclose(np.asarray(both.model(i)(toks)), np.asarray(one.model(0)(toks)),
                                   rtol=2e-4, atol=2e-4)


def test_teacher_draws_are_shared_or_per_student_and_reproducible(tiny):
    questions, tok, teacher, _ = tiny
    prompts = distill.encode_prompts(tok, questions, "Q: {prompt}\nA:")
    cfg = sampling.SamplingConfig(max_new_tokens=5, temperature=1.5)
    shared = distill.teacher_responses(teacher, tok, prompts, 3, jax.random.key(1), cfg)
    assert len(shared) == 3 and all(len(r) == 3 for r in shared)
    assert shared == distill.teacher_responses(teacher, tok, prompts, 3, jax.random.key(1), cfg)
    per = distill.teacher_responses(teacher, tok, prompts, 3, jax.random.key(1), cfg, students=2)
    assert len(per) == 2 and per[0] != per[1]  # independent draws per student
    assert per[1] == distill.teacher_responses(teacher, tok, prompts, 3, jax.random.fold_in(jax.random.key(1), 1), cfg)


def test_per_student_draws_are_one_batch_or_blocks_alike(tiny, monkeypatch):
    """All students' draws in one generate call, or one student per call when memory is short:
    the same texts."""
    from jaxkd import memory

    questions, tok, teacher, _ = tiny
    prompts = distill.encode_prompts(tok, questions, "Q: {prompt}\nA:")
    cfg = sampling.SamplingConfig(max_new_tokens=5, temperature=1.5)
    together = distill.teacher_responses(teacher, tok, prompts, 2, jax.random.key(4), cfg, students=3)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    assert distill.teacher_responses(teacher, tok, prompts, 2, jax.random.key(4), cfg, students=3) == together


def test_measure_reports_the_sampling_floor():
    """Identical students: the uncorrected between-student variance is about its floor (S.1)
    and the corrected value about zero."""
    rng = np.random.default_rng(0)
    e = rng.normal(size=(6, 4, 10, 8))  # every student samples the same distribution
    e /= np.linalg.norm(e, axis=-1, keepdims=True)
    m = distill.measure(e, e[0])
    assert m["inter_student_variance_floor"] > 0
    assert abs(m["inter_student_variance_corrected"]) < 0.35 * m["inter_student_variance"]
    assert m["inter_student_variance"] == pytest.approx(m["inter_student_variance_floor"], rel=0.35)


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource
    import jax, numpy as np
    from jaxkd.llm import GPT2Config, distill, training
    from jaxkd.llm.model import init
    V, L = 50257, 16
    cfg = GPT2Config(vocab_size=V, n_positions=L, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
    teacher, student = init(cfg, jax.random.key(0)), init(cfg, jax.random.key(1))
    train = training.TrainConfig(total_steps=3, warmup_steps=0, kd_weight=1.0)
    for M in (16, 2048):  # same batch shapes: the second call reuses the compiled step
        toks = np.random.default_rng(0).integers(1, V, size=(M, L)).astype(np.int32)
        pairs = distill.Pairs(toks, np.ones_like(toks), np.ones_like(toks))
        out = distill.distil(student, pairs, jax.random.split(jax.random.key(2), 2), train, batch_size=4,
                             teacher=teacher)
        jax.block_until_ready(out.states)
        print(M, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # peak so far, MiB
""")


def test_soft_target_memory_does_not_grow_with_the_number_of_pairs():
    """Peak memory of a soft-target distillation at GPT-2's vocabulary for 16 pairs, then 2,048.
    The teacher's logits for the whole set would be 2,048 x 16 x 50,257 floats (6.3 GiB): they
    are computed per batch inside the step, so the second run raises the peak by (almost)
    nothing."""
    r = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    peak = {int(m): float(p) for m, p in (line.split() for line in r.stdout.strip().splitlines()[-2:])}
    whole_set = 2048 * 16 * 50257 * 4 / 2**20
    assert peak[2048] - peak[16] < 0.03 * whole_set, (peak, whole_set)


def test_bad_inputs_are_clear_errors(tiny):
    questions, tok, teacher, student = tiny
    with pytest.raises(ValueError, match="containing \\{prompt\\}"):
        distill.encode_prompts(tok, questions, "Q:")
    with pytest.raises(ValueError, match="fields other than"):
        distill.encode_prompts(tok, questions, "{prompt} {answer}")
    with pytest.raises(ValueError, match="one answer per prompt"):
        distill.encode_pairs(tok, questions, ["a"])
    data = distill.encode_pairs(tok, questions, ["a", "b", "c"])
    cfg = training.TrainConfig(total_steps=2)
    with pytest.raises(ValueError, match="typed PRNG keys"):
        distill.distil(student, data, np.zeros((2, 2), np.uint32), cfg, batch_size=2)
    stacked = distill.stack_pairs([data, data], tok.eos_token_id)
    with pytest.raises(ValueError, match="for 2 students, but 3 keys"):
        distill.distil(student, stacked, jax.random.split(jax.random.key(0), 3), cfg, batch_size=2)
    with pytest.raises(ValueError, match="same number of training pairs"):
        distill.stack_pairs([data, distill.encode_pairs(tok, questions[:2], ["a", "b"])], tok.eos_token_id)
    with pytest.raises(ValueError, match="needs the teacher"):
        distill.distil(student, data, jax.random.split(jax.random.key(0), 2),
                       training.TrainConfig(total_steps=2, kd_weight=1.0), batch_size=2)
    with pytest.raises(ValueError, match="unknown method"):
        distill.choose_targets("best", [["a"]])


@pytest.mark.slow  # 15-25 s; make test covers every target method through the llm-variance-aware experiment
def test_hugging_face_example_distils_with_every_target_method(tmp_path):
    """examples/distil_hf_gpt2.py: random tiny HF checkpoints on disk -> four students per method."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("distil_hf_gpt2", ROOT / "examples" / "distil_hf_gpt2.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rows = example.main(["--folder", str(tmp_path), "--steps", "3"])
    assert [r["method"] for r in rows] == list(distill.METHODS)
    assert (tmp_path / "teacher" / "model.safetensors").is_file()
    for r in rows:
        assert r["students"] == 4 and r["steps"] == 3
        assert r["pairs"] == (len(example.QUESTIONS) * 3 if r["method"] == "multi" else len(example.QUESTIONS))
        assert r["inter_student_variance_floor"] > 0 and -1 <= r["alignment"] <= 1


def test_distil_and_sampling_refuse_what_cannot_fit(tiny, monkeypatch):
    from jaxkd import memory

    questions, tok, _, student = tiny
    data = distill.encode_pairs(tok, questions, ["a", "b", "c"])
    keys = jax.random.split(jax.random.key(0), 2)
    need = distill.training_bytes(student, 2, 2, data.tokens.shape[1])
    assert need > 2 * 6 * 4 * sum(a.size for a in jax.tree.leaves(jax.tree.map(np.asarray, _params(student))))
    monkeypatch.setattr(memory, "available_bytes", lambda: need // 2)
    with pytest.raises(ValueError, match="distilling 2 students .* needs about .* use fewer students"):
        distill.distil(student, data, keys, training.TrainConfig(total_steps=1), batch_size=2)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 * need)
    students = distill.distil(student, data, keys, training.TrainConfig(total_steps=1), batch_size=2)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    with pytest.raises(ValueError, match="sampling 2 students"):
        distill.student_responses(students, tok, distill.encode_prompts(tok, questions), 2, jax.random.key(1),
                                  sampling.SamplingConfig(max_new_tokens=4))


def _params(model):
    from flax import nnx

    return nnx.state(model, nnx.Param)
