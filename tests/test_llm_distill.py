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

from jaxkd import memory
from jaxkd.llm import ModelConfig, distill, sampling, tokenizer
from jaxkd.llm.model import init

ROOT = Path(__file__).parent.parent


def _run_readme_example(heading: str) -> str:
    """What the first Python block under ``heading`` (up to "## Data") prints, run in this
    process (the examples change no global state, so imports and compiled programs are shared
    with the other tests of this worker)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(heading):readme.index("## Data\n")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    return out.getvalue()


def test_readme_distillation_example_runs():
    rows = [line.rsplit(" ", 4) for line in _run_readme_example("### Distil your own language model").strip().splitlines()]
    assert [row[0] for row in rows] == ["averaging", "soft targets"]
    for _, loss, alignment, corrected, steps in rows:
        assert -1.0 <= float(alignment) <= 1.0 and np.isfinite(float(corrected)) and int(steps) == 20  # 10 x ceil(3/2)
        assert 0.0 <= float(loss) < 10.0


@pytest.fixture(scope="module")
def tiny():
    questions = ["one two", "three four", "five six"]
    tok = tokenizer.train_bpe(questions * 10 + ["seven eight nine ten"] * 10, vocab_size=280)
    cfg = ModelConfig.tiny(len(tok), tok.eos_token_id)
    return questions, tok, init(cfg, jax.random.key(0)), init(cfg, jax.random.key(1))


def _leaves(states):
    return [np.asarray(a) for a in jax.tree.leaves(states)]


def test_per_student_pairs_train_each_student_on_its_own(tiny):
    """Student i of a per-student run equals a run of student i alone on its own pairs."""
    questions, tok, _, student = tiny
    sets = [distill.encode_pairs(tok, questions, answers)
            for answers in (["a b", "c d", "e f"], ["seven", "eight nine", "ten ten ten"])]
    keys = jax.random.split(jax.random.key(5), 2)
    both = distill.distill(student, distill.stack_pairs(sets, tok.eos_token_id), order_keys=keys, epochs=2,
                           batch_size=2, learning_rate=1e-3)
    assert both.num_students == 2 and both.compute.pairs == 3 and both.compute.steps == 4  # 2 x ceil(3 / 2)
    for i in range(2):
        one = distill.distill(student, sets[i], order_keys=keys[i:i + 1], epochs=2, batch_size=2, learning_rate=1e-3)
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
    """All students' draws in one generate call, one student per call, or one student's
    sequences in blocks when memory is short: the same texts."""
    questions, tok, teacher, _ = tiny
    prompts = distill.encode_prompts(tok, questions, "Q: {prompt}\nA:")
    cfg = sampling.SamplingConfig(max_new_tokens=5, temperature=1.5)
    together = distill.teacher_responses(teacher, tok, prompts, 2, jax.random.key(4), cfg, students=3)
    length = max(map(len, prompts)) + 5
    one_student = distill.sampling_bytes(teacher, 1, 6, length)
    for available, expect in ((1.2 * one_student, (1, 6)), (distill.sampling_bytes(teacher, 1, 2, length), (1, 2))):
        monkeypatch.setattr(memory, "available_bytes", lambda a=available: int(a / memory.FRACTION))
        assert distill.sampling_blocks(teacher, 3, 6, length) == expect
        assert distill.teacher_responses(teacher, tok, prompts, 2, jax.random.key(4), cfg, students=3) == together
    monkeypatch.setattr(memory, "available_bytes", lambda: 100)
    with pytest.raises(ValueError, match="for a single sequence"):
        distill.teacher_responses(teacher, tok, prompts, 2, jax.random.key(4), cfg, students=3)


def test_measure_reports_the_sampling_floor():
    """Identical students: the uncorrected between-student variance is about its floor (S.1)
    and the corrected value about zero."""
    rng = np.random.default_rng(0)
    e = rng.normal(size=(6, 4, 10, 8))  # every student samples the same distribution
    e /= np.linalg.norm(e, axis=-1, keepdims=True)
    m = distill.measure(e, e[0])
    assert isinstance(m, distill.Measures)
    assert m.inter_student_variance_floor > 0
    assert abs(m.inter_student_variance_corrected) < 0.35 * m.inter_student_variance
    assert m.inter_student_variance == pytest.approx(m.inter_student_variance_floor, rel=0.35)
    # Callers that read the measures by name: a dict of every field, item access and ** alike.
    assert m.to_dict() == {**m} and m["noise_r2"] == m.noise_r2 and all(isinstance(x, float) for x in {**m}.values())
    with pytest.raises(KeyError):
        m["to_dict"]


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource
    import jax, numpy as np
    from jaxkd.llm import ModelConfig, distill
    from jaxkd.llm.model import init
    V, L = 50257, 16
    cfg = ModelConfig(vocab_size=V, n_positions=L, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
    teacher, student = init(cfg, jax.random.key(0)), init(cfg, jax.random.key(1))
    for M in (16, 2048):  # same batch shapes; 3 steps each (max_steps)
        toks = np.random.default_rng(0).integers(1, V, size=(M, L)).astype(np.int32)
        pairs = distill.Pairs(toks, np.ones_like(toks), np.ones_like(toks))
        out = distill.distill(student, pairs, order_keys=jax.random.split(jax.random.key(2), 2), epochs=1,
                              max_steps=3, batch_size=4, loss=distill.Loss("forward_kl"), teacher=teacher)
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
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="typed PRNG keys"):
        distill.distill(student, data, order_keys=np.zeros((2, 2), np.uint32), epochs=1, batch_size=2)
    stacked = distill.stack_pairs([data, data], tok.eos_token_id)
    with pytest.raises(ValueError, match="for 2 students, but 3 order keys"):
        distill.distill(student, stacked, order_keys=jax.random.split(jax.random.key(0), 3), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="same number of training pairs"):
        distill.stack_pairs([data, distill.encode_pairs(tok, questions[:2], ["a", "b"])], tok.eos_token_id)
    with pytest.raises(ValueError, match="needs the teacher"):
        distill.distill(student, data, order_keys=keys, epochs=1, batch_size=2, loss=distill.Loss("forward_kl"))
    with pytest.raises(ValueError, match="unknown loss"):
        distill.Loss("kl")
    with pytest.raises(ValueError, match="unknown method"):
        distill.choose_targets("best", [["a"]])
    with pytest.raises(ValueError, match="exceed the student's 128 positions"):
        long = distill.encode_pairs(tok, questions, ["seven " * 130] * 3)
        distill.distill(student, long, order_keys=keys, epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="plus max_new_tokens \\(200\\) exceeds the model's 128 positions"):
        distill.teacher_responses(teacher, tok, distill.encode_prompts(tok, questions), 2, jax.random.key(0),
                                  sampling.SamplingConfig(max_new_tokens=200))


def test_models_jaxkd_cannot_compute_are_refused_by_name(tiny):
    """A transformers model handed to the library is refused in one sentence, before any work."""
    from transformers import GPT2Config as HFConfig
    from transformers import GPT2LMHeadModel

    questions, tok, teacher, student = tiny
    hf = GPT2LMHeadModel(HFConfig(vocab_size=len(tok), n_positions=32, n_embd=16, n_layer=1, n_head=2))
    prompts = distill.encode_prompts(tok, questions)
    with pytest.raises(ValueError, match="teacher is a transformers.*GPT2LMHeadModel; jaxkd distils its own decoders"):
        distill.teacher_responses(hf, tok, prompts, 2, jax.random.key(0), sampling.SamplingConfig())
    with pytest.raises(ValueError, match="student is a transformers"):
        distill.distill(hf, distill.encode_pairs(tok, questions, ["a", "b", "c"]),
                        order_keys=jax.random.split(jax.random.key(0), 2), epochs=1, batch_size=2)


@pytest.mark.slow  # 15-25 s; make test covers every target method through the llm-variance-aware experiment
def test_hugging_face_example_distils_with_every_target_method(tmp_path):
    """examples/distil_hf_gpt2.py: random tiny HF checkpoints on disk -> four students per method."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("distil_hf_gpt2", ROOT / "examples" / "distil_hf_gpt2.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rows = example.main(["--folder", str(tmp_path), "--epochs", "3"])
    assert [r["method"] for r in rows] == list(distill.METHODS)
    assert (tmp_path / "teacher" / "model.safetensors").is_file()
    for r in rows:
        assert r["students"] == 4 and r["steps"] == 3 * (3 if r["method"] == "multi" else 1)  # ceil(M / 4) a pass
        assert r["pairs"] == (len(example.QUESTIONS) * 3 if r["method"] == "multi" else len(example.QUESTIONS))
        assert r["inter_student_variance_floor"] > 0 and -1 <= r["alignment"] <= 1


def test_distill_chunks_what_does_not_fit_and_refuses_what_never_can(tiny, monkeypatch):
    """Memory for one student but not two: distill trains one student at a time (the same
    numbers, up to float32 rounding); memory for none: one sentence, before anything runs."""

    questions, tok, _, student = tiny
    data = distill.encode_pairs(tok, questions, ["a", "b", "c"])
    keys = jax.random.split(jax.random.key(0), 2)
    per = distill.training_bytes(student, 1, 2, data.tokens.shape[1])
    assert per > 6 * 4 * sum(a.size for a in jax.tree.leaves(jax.tree.map(np.asarray, _params(student))))
    whole = distill.distill(student, data, order_keys=keys, epochs=2, batch_size=2, learning_rate=1e-3)
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * per / memory.FRACTION))
    one_at_a_time = distill.distill(student, data, order_keys=keys, epochs=2, batch_size=2, learning_rate=1e-3)
    assert isinstance(jax.tree.leaves(one_at_a_time.states)[0], np.ndarray)  # chunks kept on the host
    np.testing.assert_allclose(one_at_a_time.losses, whole.losses, rtol=1e-5)
    monkeypatch.setattr(memory, "available_bytes", lambda: per // 2)
    with pytest.raises(ValueError, match="needs about .* for a single student"):
        distill.distill(student, data, order_keys=keys, epochs=1, batch_size=2)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    with pytest.raises(ValueError, match="sampling 9 sequences from a model needs .* for a single sequence"):
        distill.student_responses(whole, tok, distill.encode_prompts(tok, questions), 3, jax.random.key(1),
                                  sampling.SamplingConfig(max_new_tokens=4))


def test_distill_returns_its_loss_curve_and_held_out_loss(tiny):
    """The loss of every step and the held-out loss after every epoch, both falling on a set the
    students can learn; a trace of parameters per step."""
    questions, tok, _, student = tiny
    data = distill.encode_pairs(tok, questions * 4, ["one two", "three four", "five six"] * 4)
    out = distill.distill(student, data, order_keys=jax.random.split(jax.random.key(0), 3), epochs=6, batch_size=4,
                          learning_rate=3e-3, eval_pairs=distill.encode_pairs(tok, questions, ["one two", "three four",
                                                                                               "five six"]),
                          trace=_first_embedding)
    assert out.losses.shape == (3, 18) and out.eval_losses.shape == (3, 6)
    assert np.all(out.losses[:, -3:].mean(1) < 0.7 * out.losses[:, :3].mean(1))
    assert np.all(np.diff(out.eval_losses, axis=1).mean(1) < 0)
    assert out.trace.shape == (3, 18)
    np.testing.assert_array_equal(out.trace[:, -1], np.asarray(out.states["wte"]["embedding"][:, 0, 0]))


def test_distill_stops_each_student_on_its_held_out_loss(tiny):
    """A held-out stopping rule: students with their own data orders stop when their held-out
    loss has stopped moving (its change recomputed from the recorded held-out losses, which
    repeat after the stop), within the epochs given as the cap; without eval_pairs, refused."""
    questions, tok, _, student = tiny
    data = distill.encode_pairs(tok, questions * 4, ["one two", "three four", "five six"] * 4)
    held = distill.encode_pairs(tok, questions, ["one two", "three four", "five six"])
    rule = distill.Stopping(tol=0.05, window=2, monitor="held-out")
    out = distill.distill(student, data, order_keys=jax.random.split(jax.random.key(0), 3), epochs=30, batch_size=4,
                          learning_rate=3e-3, eval_pairs=held, stopping=rule)
    c = out.convergence
    assert c.converged.any() and out.compute.steps == 90 and np.all(c.steps <= 90)
    for i in np.flatnonzero(c.converged):
        e = int(c.steps[i]) // 3  # epochs run (3 steps an epoch)
        E = out.eval_losses[i]
        assert abs(E[e - 1] - E[e - 3]) / abs(E[e - 3]) < rule.tol and np.all(E[e:] == E[e - 1])
        assert np.all(out.losses[i, 3 * e:] == c.final_loss[i])  # a stopped student records its final loss
    with pytest.raises(ValueError, match="pass eval_pairs"):
        distill.distill(student, data, order_keys=jax.random.split(jax.random.key(0), 3), epochs=2, batch_size=4,
                        stopping=rule)


def _first_embedding(params):
    return params["wte"]["embedding"][0, 0]


def _params(model):
    from flax import nnx

    return nnx.state(model, nnx.Param)


def test_every_divergence_trains_toward_the_teacher(tiny):
    """Forward KL, reverse KL and JSD(β) distil students toward the teacher's next-token
    distribution (the divergence to the teacher on the training positions falls), and the
    on-policy path (λ = 1) trains on the students' own samples."""
    from jaxkd.llm import objective

    questions, tok, teacher, student = tiny
    data = distill.encode_pairs(tok, questions * 2, ["one two", "three four", "five six"] * 2)
    keys = jax.random.split(jax.random.key(0), 2)
    toks, mask = jax.numpy.asarray(data.tokens), jax.numpy.asarray(data.mask)

    def gap(model, loss):
        per = objective.divergence(model(toks, attention_mask=mask)[:, :-1], teacher(toks, attention_mask=mask)[:, :-1],
                                   loss)
        return float(objective.masked_mean(per, jax.numpy.asarray(data.loss_mask), jax.numpy.ones(6, bool)))

    for loss in (distill.Loss("forward_kl"), distill.Loss("reverse_kl"), distill.Loss("jsd", beta=0.9),
                 distill.Loss("jsd", beta=0.5, on_policy=1.0, max_new_tokens=6)):
        out = distill.distill(student, data, order_keys=keys, epochs=15, batch_size=3, learning_rate=3e-3, loss=loss,
                              teacher=teacher, sample_keys=jax.random.split(jax.random.key(1), 2))
        assert gap(out.model(0), loss) < 0.5 * gap(student, loss), loss
        assert out.losses[:, -3:].mean() < out.losses[:, :3].mean()


def test_on_policy_students_are_independent_and_reproducible(tiny):
    """Each student samples its own continuations from its own key: student i of a run equals
    student i trained alone; the same keys give the same students, other sample keys others;
    the coin (λ = 0.5) is one stream shared by every student."""
    questions, tok, teacher, student = tiny
    data = distill.encode_pairs(tok, questions, ["one two", "three four", "five six"])
    loss = distill.Loss("jsd", beta=0.5, on_policy=0.5, max_new_tokens=5)
    order, samples = jax.random.split(jax.random.key(0), 2), jax.random.split(jax.random.key(1), 2)

    def run(o, s, coin=jax.random.key(2)):
        return distill.distill(student, data, order_keys=o, epochs=4, batch_size=2, learning_rate=3e-3, loss=loss,
                               teacher=teacher, sample_keys=s, coin_key=coin).losses

    both = run(order, samples)
    np.testing.assert_array_equal(both, run(order, samples))
    np.testing.assert_allclose(run(order[1:], samples[1:])[0], both[1], rtol=1e-5)
    assert not np.allclose(run(order, jax.random.split(jax.random.key(7), 2)), both)
    assert not np.allclose(run(order, samples, jax.random.key(3)), both)  # another coin, other on-policy steps
    with pytest.raises(ValueError, match="pass sample_keys"):
        distill.distill(student, data, order_keys=order, epochs=1, batch_size=2, loss=loss, teacher=teacher)
    with pytest.raises(ValueError, match="pass coin_key"):
        distill.distill(student, data, order_keys=order, epochs=1, batch_size=2, loss=loss, teacher=teacher,
                        sample_keys=samples)
    with pytest.raises(ValueError, match="needs a divergence"):
        distill.Loss("ce", on_policy=0.5)
    with pytest.raises(ValueError, match="beta must lie in"):
        distill.Loss("jsd", beta=1.5)


def test_left_padded_prompts_recover_each_rows_prompt(tiny):
    from jaxkd.llm.objective import left_padded_prompts

    questions, tok, _, _ = tiny
    data = distill.encode_pairs(tok, questions, ["a", "b c d", "e"], template="Q: {prompt}\nA:")
    prompts, pmask = left_padded_prompts(data.tokens, data.mask, data.loss_mask)
    for i, q in enumerate(questions):
        want = tok(f"Q: {q}\nA:")["input_ids"]
        assert prompts[i][pmask[i] > 0].tolist() == want and pmask[i, -1] == 1


def test_llama_family_models_take_every_path():
    """A Llama teacher and Qwen3 students (grouped heads, rotary positions, q/k norm) through the
    same API as GPT-2: teacher and student sampling, fine-tuning, cross-entropy on chosen
    targets, soft targets, on-policy steps, measures and the memory estimate (every divergence
    is one function of the logits, whichever family made them: tested on GPT-2 above); a GPT-2
    teacher with the same tokenizer distils a Llama student token by token, and a vocabulary
    that differs is refused."""
    from jaxkd.llm import LlamaConfig, families
    from jaxkd.llm.embeddings import Embedder

    questions = ["one two", "three four", "five six"]
    tok = tokenizer.train_bpe(questions * 10 + ["seven eight nine ten"] * 10, vocab_size=280)
    gpt2_teacher = init(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(1))
    answers = ["one two", "three four", "five six"]
    teacher = families.init(LlamaConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(0))
    data = distill.encode_pairs(tok, questions * 2, answers * 2)
    teacher, curve = distill.fine_tune(teacher, data, jax.random.key(1), epochs=15, batch_size=3, learning_rate=3e-3,
                                       optimizer="warmup-cosine")
    assert curve[-3:].mean() < 0.5 * curve[:3].mean()
    prompts = distill.encode_prompts(tok, questions)
    sample = sampling.SamplingConfig(max_new_tokens=5)
    responses = distill.teacher_responses(teacher, tok, prompts, 3, jax.random.key(2), sample)
    assert len(responses) == 3 and all(len(r) == 3 for r in responses)
    keys = jax.random.split(jax.random.key(3), 2)
    student = families.init(LlamaConfig.tiny(len(tok), tok.eos_token_id, model_type="qwen3"), jax.random.key(4))
    ce = distill.distill(student, data, order_keys=keys, epochs=10, batch_size=3, learning_rate=3e-3)
    assert np.all(ce.losses[:, -2:].mean(1) < 0.6 * ce.losses[:, :2].mean(1))
    for loss in (distill.Loss("forward_kl"), distill.Loss("jsd", beta=0.5, on_policy=1.0, max_new_tokens=4)):
        out = distill.distill(student, data, order_keys=keys, epochs=6, batch_size=3, learning_rate=3e-3,
                              loss=loss, teacher=teacher, sample_keys=jax.random.split(jax.random.key(5), 2))
        assert out.losses[:, -2:].mean() < out.losses[:, :2].mean(), loss
    texts = distill.student_responses(ce, tok, prompts, 2, jax.random.key(6), sample)
    embedder = Embedder()
    m = distill.measure(distill.embed_texts(embedder, texts), distill.embed_texts(embedder, responses))
    assert -1.0 <= m.alignment <= 1.0 and np.isfinite(m.inter_student_variance_corrected)
    assert distill.training_bytes(student, 2, 3, 16) > distill.training_bytes(student, 1, 3, 16) > 0
    cross = distill.distill(student, data, order_keys=keys, epochs=2, batch_size=3, loss=distill.Loss("forward_kl"),
                            teacher=gpt2_teacher)  # another family, the same tokenizer
    assert cross.losses.shape == (2, 4)
    other = families.init(LlamaConfig.tiny(len(tok) + 5, tok.eos_token_id), jax.random.key(7))
    with pytest.raises(ValueError, match="teacher's vocabulary .* differs from the student's"):
        distill.distill(student, data, order_keys=keys, epochs=1, batch_size=3, loss=distill.Loss("forward_kl"),
                        teacher=other)


def test_readme_llama_example_runs():
    *curve, steps = _run_readme_example("#### Llama-family teachers and students").split()
    assert int(steps) == 60 and len(curve) == 6  # 20 epochs x ceil(12 / 4)
    assert float(curve[-1]) < 0.5 * float(curve[0])  # the students learn the teacher's distribution


def test_a_chat_template_is_applied_only_when_asked(tiny):
    questions, tok, _, _ = tiny
    plain = distill.encode_prompts(tok, questions[:1])
    assert plain == [tok(questions[0])["input_ids"]]
    with pytest.raises(ValueError, match="this tokenizer has none"):
        distill.encode_prompts(tok, questions[:1], chat=True)
    import copy

    chatty = copy.deepcopy(tok)
    chatty.chat_template = ("{% for m in messages %}user: {{ m['content'] }}\n{% endfor %}"
                            "{% if add_generation_prompt %}assistant:{% endif %}")
    assert distill.encode_prompts(chatty, questions[:1]) == plain  # not applied unless asked
    wrapped = distill.encode_prompts(chatty, questions[:1], chat=True)
    assert wrapped == [tok(f"user: {questions[0]}\nassistant:", add_special_tokens=False)["input_ids"]]
    pairs = distill.encode_pairs(chatty, questions[:1], ["a b"], chat=True)
    n = len(wrapped[0])
    assert pairs.tokens[0, :n].tolist() == wrapped[0] and pairs.loss_mask[0, :n].sum() == 0
