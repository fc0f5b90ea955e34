"""Truncated teachers (jaxkd.llm.topk) and the teacher-logits file (jaxkd.llm.teacher_logits):
the tail bucket is exact, k = V is the full objective, the renormalised form is the masked
teacher's divergence, the file is what the in-step truncation computes, reused by content and
refused on other pairs, and students distilled from it equal students with the teacher in the loop."""

from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkd import divergences
from jaxkd.llm import ModelConfig, distill, teacher_logits as tl, tokenizer, topk
from jaxkd.llm.model import init
from jaxkd.llm.objective import Loss

KINDS = (("forward_kl", 0.0), ("reverse_kl", 1.0), ("jsd", 0.3))


def _full(kind, beta, s, t, T=1.0):
    if kind == "forward_kl":
        return divergences.forward_kl(s, t, temperature=T, t2_scale=True)
    if kind == "reverse_kl":
        return divergences.reverse_kl(s, t, temperature=T)
    return divergences.generalized_jsd(s, t, beta, temperature=T)


def _logits(seed, shape, scale=2.0):
    return scale * jax.random.normal(jax.random.key(seed), shape)


def test_tail_bucket_is_the_exact_mass_outside_the_top_k():
    """float64 reference; and on a teacher whose top 3 hold all but 1e-12 of the mass, where
    log(1 - sum of the top k) in float32 is -inf (the bucket keeps it to 1e-6 relative)."""
    t = _logits(0, (4, 7, 50))
    ids, lp, tail = topk.truncate(t, 5, temperature=1.5)
    p = np.exp(np.asarray(jax.nn.log_softmax(np.asarray(t, np.float64) / 1.5)))
    order = np.argsort(-p, axis=-1)
    np.testing.assert_array_equal(np.sort(np.asarray(ids), -1), np.sort(order[..., :5], -1))
    np.testing.assert_allclose(np.exp(lp), np.take_along_axis(p, np.asarray(ids), -1), rtol=1e-5)
    rest = np.log(np.sort(p, -1)[..., :-5].sum(-1))
    np.testing.assert_allclose(np.asarray(tail), rest, rtol=1e-5)
    peaked = jnp.array([30.0, 29.0, 28.0] + [0.0] * 20)
    _, lp, tail = topk.truncate(peaked, 3)
    exact = np.log(20.0) - np.log(np.exp(np.float64(30.0)) + np.exp(29.0) + np.exp(28.0) + 20.0)
    assert np.isfinite(float(tail)) and abs(float(tail) - exact) < 1e-6 * abs(exact)
    with np.errstate(divide="ignore"):
        naive = float(np.log1p(-np.exp(np.asarray(lp)).sum()))
    assert naive == -np.inf or abs(naive - exact) > 1.0
    assert float(topk.truncate(peaked, 23)[2]) == -np.inf


@pytest.mark.parametrize("kind,beta", KINDS)
def test_at_k_equal_to_the_vocabulary_both_forms_are_the_full_objective(kind, beta):
    """Values and student gradients, at a loss temperature of 2 (equal to float32 rounding: the
    cells are the vocabulary in another order)."""
    s, t = _logits(1, (3, 5, 40)), _logits(2, (3, 5, 40))
    T = 2.0
    full, full_grad = jax.value_and_grad(lambda z: _full(kind, beta, z, t, T).sum())(s)
    for form in topk.FORMS if kind != "reverse_kl" else ("bucket",):
        ids, lp, tail = topk.truncate(t, 40, T)
        val, grad = jax.value_and_grad(lambda z: topk.divergence(z, ids, lp, tail, kind=kind, beta=beta,
                                                                 temperature=T, form=form).sum())(s)
        np.testing.assert_allclose(val, full, rtol=2e-6)
        np.testing.assert_allclose(grad, full_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kind,beta", [("forward_kl", 0.0), ("jsd", 0.3)])
def test_renormalised_form_is_the_divergence_to_the_masked_teacher(kind, beta):
    """Tunix's form: the teacher's logits -inf outside its top k, the student's full softmax."""
    s, t = _logits(3, (6, 30)), _logits(4, (6, 30))
    ids, lp, tail = topk.truncate(t, 4)
    keep = np.zeros(t.shape, bool)
    np.put_along_axis(keep, np.asarray(ids), True, -1)
    masked = jnp.where(keep, t, -jnp.inf)
    got = topk.divergence(s, ids, lp, tail, kind=kind, beta=beta, form="renormalised")
    np.testing.assert_allclose(got, _full(kind, beta, s, masked), rtol=1e-5)


def test_bucket_is_the_divergence_of_the_k_plus_one_cells_and_differs_from_renormalising():
    """A float64 NumPy computation of the (k + 1)-cell KL: a bucket that dropped the tail, or
    the student's tail cell taken as the teacher's, would not match."""
    s, t = np.asarray(_logits(5, (30,)), np.float64), np.asarray(_logits(6, (30,)), np.float64)
    p, q = np.exp(t - np.logaddexp.reduce(t)), np.exp(s - np.logaddexp.reduce(s))
    top = np.argsort(-p)[:4]
    rest = np.setdiff1d(np.arange(30), top)
    P, Q = np.append(p[top], p[rest].sum()), np.append(q[top], q[rest].sum())
    ids, lp, tail = topk.truncate(jnp.asarray(t, jnp.float32), 4)
    got = float(topk.divergence(jnp.asarray(s, jnp.float32), ids, lp, tail, kind="forward_kl"))
    assert got == pytest.approx(float(np.sum(P * np.log(P / Q))), rel=1e-5)
    renorm = float(topk.divergence(jnp.asarray(s, jnp.float32), ids, lp, tail, kind="forward_kl", form="renormalised"))
    Pr = p[top] / p[top].sum()
    assert renorm == pytest.approx(float(np.sum(Pr * np.log(Pr / q[top]))), rel=1e-5)
    assert abs(renorm - got) > 0.01


def test_bucket_gradient_on_each_tail_logit_is_its_probability_times_one_factor():
    s, t = _logits(7, (25,)), _logits(8, (25,))
    ids, lp, tail = topk.truncate(t, 3)
    for kind, beta in KINDS:
        g = np.asarray(jax.grad(lambda z: topk.divergence(z, ids, lp, tail, kind=kind, beta=beta))(s))
        outside = np.setdiff1d(np.arange(25), np.asarray(ids))
        ratio = g[outside] / np.asarray(jax.nn.softmax(s))[outside]
        assert np.ptp(ratio) < 2e-4 * np.abs(ratio).max(), kind  # float32 rounding


def test_loss_refuses_what_truncation_cannot_compute():
    with pytest.raises(ValueError, match="cross-entropy on the training text does not use"):
        Loss("ce", top_k=5)
    for loss in (dict(kind="reverse_kl"), dict(kind="jsd", beta=1.0)):
        with pytest.raises(ValueError, match="infinite for every student"):
            Loss(**loss, top_k=5, tail="renormalised")
    with pytest.raises(ValueError, match="top_k must be 0"):
        Loss("forward_kl", top_k=-1)
    with pytest.raises(ValueError, match="tail"):
        Loss("forward_kl", top_k=2, tail="dropped")
    assert Loss("reverse_kl", top_k=5).tail == "bucket" and Loss("jsd", beta=0.9, top_k=5, tail="renormalised")


@pytest.fixture(scope="module")
def tiny():
    questions = ["one two", "three four", "five six", "seven"]
    tok = tokenizer.train_bpe(questions * 10 + ["seven eight nine ten"] * 10, vocab_size=280)
    cfg = ModelConfig.tiny(len(tok), tok.eos_token_id)
    teacher, student = init(cfg, jax.random.key(0)), init(cfg, jax.random.key(1))
    pairs = distill.encode_pairs(tok, questions, ["a b", "c d e", "f", "nine ten"], template="Q: {prompt}\nA:")
    return tok, teacher, student, pairs


def test_file_is_the_in_step_truncation_and_round_trips(tiny, tmp_path):
    tok, teacher, _, pairs = tiny
    mem = tl.compute(teacher, pairs, 7, temperature=1.5)
    keep = pairs.loss_mask[:, 1:] > 0
    assert mem.positions == int(keep.sum()) and mem.ids.shape == (*keep.shape, 7)
    ids, lp, tail = topk.truncate(teacher(jnp.asarray(pairs.tokens), attention_mask=jnp.asarray(pairs.mask))[:, :-1],
                                  7, 1.5)
    np.testing.assert_array_equal(mem.ids[keep], np.asarray(ids)[keep])
    np.testing.assert_allclose(mem.logprobs[keep], np.asarray(lp)[keep], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mem.tail[keep], np.asarray(tail)[keep], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mem.logprobs[~keep], -np.log(280))   # a valid filler where nothing is scored
    # Chunks of 1 and of 3 sequences (the last one padded) write the same numbers; the file reads back bitwise.
    folder = tl.write(teacher, pairs, tmp_path / "f", 7, temperature=1.5, chunk=3)
    back = tl.load(folder, pairs)
    one = tl.compute(teacher, pairs, 7, temperature=1.5, chunk=1)
    for a, b, c in ((mem.ids, back.ids, one.ids), (mem.logprobs, back.logprobs, one.logprobs),
                    (mem.tail, back.tail, one.tail)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)
    assert (back.k, back.temperature, back.vocab_size, back.teacher, back.pairs) == (
        7, 1.5, 280, mem.teacher, mem.pairs)
    assert len(tl.read_index(folder)["shards"]) == 2 and tl.read_index(folder)["ids_dtype"] == "uint16"
    assert mem.bytes_per_token == 7 * 6 + 4 and mem.full_bytes_per_token == 4 * 280
    assert tl.file_bytes(folder) < mem.positions * mem.full_bytes_per_token / 10


def test_file_is_reused_by_content_and_refused_on_other_input(tiny, tmp_path):
    tok, teacher, student, pairs = tiny
    first = tl.cached(teacher, pairs, 5, tmp_path)
    with mock.patch.object(tl, "_chunks", side_effect=AssertionError("the teacher ran again")):
        again = tl.cached(teacher, pairs, 5, tmp_path)
    np.testing.assert_array_equal(first.logprobs, again.logprobs)
    assert len(list(tmp_path.iterdir())) == 1
    tl.cached(teacher, pairs, 5, tmp_path, temperature=2.0)   # another temperature: another file
    tl.cached(student, pairs, 5, tmp_path)                    # another teacher: another file
    assert len(list(tmp_path.iterdir())) == 3
    other = distill.encode_pairs(tok, ["one two"] * 4, ["a", "b", "c", "d"], template="Q: {prompt}\nA:")
    with pytest.raises(ValueError, match="computed on other pairs"):
        tl.load(next(tmp_path.iterdir()), other)
    with pytest.raises(ValueError, match="computed on other pairs"):
        first.check(other, k=5, temperature=1.0, vocab_size=280)
    with pytest.raises(ValueError, match="top_k=6"):
        first.check(pairs, k=6, temperature=1.0, vocab_size=280)
    with pytest.raises(ValueError, match="temperature 1 but the loss compares at 2"):
        first.check(pairs, k=5, temperature=2.0, vocab_size=280)
    with pytest.raises(ValueError, match="vocabulary of 280 tokens but the student has 300"):
        first.check(pairs, k=5, temperature=1.0, vocab_size=300)
    with pytest.raises(ValueError, match="exceeds the teacher's vocabulary"):
        tl.compute(teacher, pairs, 281)
    with pytest.raises(ValueError, match="not a teacher-logits file"):
        tl.load(tmp_path, pairs)


def test_a_killed_pass_leaves_no_file(tiny, tmp_path):
    _, teacher, _, pairs = tiny
    real = tl._chunks

    def dies(*args):
        it = real(*args)
        yield next(it)
        raise KeyboardInterrupt

    with mock.patch.object(tl, "_chunks", dies), pytest.raises(KeyboardInterrupt):
        tl.cached(teacher, pairs, 5, tmp_path, chunk=2)
    assert list(tmp_path.iterdir()) == []
    assert tl.cached(teacher, pairs, 5, tmp_path, chunk=2).positions > 0


def _students(student, pairs, loss, **kw):
    return distill.distill(student, pairs, order_keys=jax.random.split(jax.random.key(3), 2), epochs=3,
                           batch_size=2, learning_rate=3e-3, loss=loss, **kw)


@pytest.mark.parametrize("form", topk.FORMS)
def test_students_from_the_file_equal_students_with_the_teacher_in_the_loop(tiny, form):
    _, teacher, student, pairs = tiny
    loss = Loss("jsd", beta=0.5, top_k=5, tail=form, teacher_temperature=1.5)
    cache = tl.compute(teacher, pairs, 5, temperature=1.5)
    from_file = _students(student, pairs, loss, teacher_logits=cache)
    live = _students(student, pairs, loss, teacher=teacher)
    np.testing.assert_allclose(from_file.losses, live.losses, rtol=1e-5, atol=1e-6)
    untruncated = _students(student, pairs, Loss("jsd", beta=0.5, teacher_temperature=1.5), teacher=teacher)
    assert np.abs(untruncated.losses[:, 0] - live.losses[:, 0]).max() > 1e-3   # truncation is not a no-op


def test_at_k_equal_to_the_vocabulary_the_file_trains_the_full_logit_students(tiny):
    _, teacher, student, pairs = tiny
    full = _students(student, pairs, Loss("forward_kl"), teacher=teacher)
    for form in topk.FORMS:
        cached = _students(student, pairs, Loss("forward_kl", top_k=280, tail=form),
                           teacher_logits=tl.compute(teacher, pairs, 280))
        np.testing.assert_allclose(cached.losses, full.losses, rtol=5e-5)  # float32 rounding over 6 steps


def test_on_policy_steps_score_the_students_text_with_the_live_teacher(tiny):
    _, teacher, student, pairs = tiny
    loss = Loss("forward_kl", top_k=5, on_policy=0.5, max_new_tokens=4)
    kw = dict(sample_keys=jax.random.split(jax.random.key(9), 2), coin_key=jax.random.key(4))
    from_file = _students(student, pairs, loss, teacher=teacher, teacher_logits=tl.compute(teacher, pairs, 5), **kw)
    live = _students(student, pairs, loss, teacher=teacher, **kw)
    np.testing.assert_allclose(from_file.losses, live.losses, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="on-policy steps score the student's own text"):
        _students(student, pairs, loss, teacher_logits=tl.compute(teacher, pairs, 5), **kw)


def test_distill_refuses_a_file_it_cannot_use(tiny):
    tok, teacher, student, pairs = tiny
    cache = tl.compute(teacher, pairs, 5)
    with pytest.raises(ValueError, match="would not be used"):
        _students(student, pairs, Loss("forward_kl", top_k=5), teacher=teacher, teacher_logits=cache)
    with pytest.raises(ValueError, match=r"top_k=5, e.g."):
        _students(student, pairs, Loss("forward_kl"), teacher_logits=cache)
    with pytest.raises(ValueError, match="top_k=4"):
        _students(student, pairs, Loss("forward_kl", top_k=4), teacher_logits=cache)
    other = distill.encode_pairs(tok, ["one two"] * 4, ["a", "b", "c", "d"], template="Q: {prompt}\nA:")
    with pytest.raises(ValueError, match="computed on other pairs"):
        _students(student, other, Loss("forward_kl", top_k=5), teacher_logits=cache)
    with pytest.raises(ValueError, match="teacher-logits file"):
        _students(student, pairs, Loss("forward_kl", top_k=5))
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        _students(student, pairs, Loss("forward_kl", top_k=300), teacher=teacher)


def test_a_topk_verdict_that_differs_between_budgets_is_inconclusive():
    """llm-topk decides at convergence and re-judges at equal steps: agreeing budgets decide, a
    flip between them is inconclusive, and so is an interval that spans 0 at the deciding one."""
    from types import SimpleNamespace

    from jaxkd.experiments.llm_topk import claims

    two = ((0.0,), (0.0,))
    res = SimpleNamespace(budget=("equal steps", "converged"), target=("top-2 + tail",) * 2, single_answer=True,
                          hallucination=two, target_hallucination=two, train_loss=two, answer_loss=two, converged=two,
                          config=SimpleNamespace(evaluation="distillation", rung=None, epochs=60))
    values = {"converged": [0.30, 0.32, 0.31, 0.29, 0.33]}

    def finding(equal):
        values["equal steps"] = equal
        return claims._judged(res, lambda r, b: values[b], lambda r, b: f"decided at {b}",
                              ["top-2 + tail"]).finding("c")

    assert finding([0.2, 0.21, 0.19, 0.22, 0.2]).reproduced is True
    flipped = finding([-0.2, -0.21, -0.19, -0.22, -0.2])
    assert flipped.reproduced is None and flipped.inconclusive and "differs between budgets" in flipped.evidence
    assert flipped.interval[0] < 0 < flipped.interval[1] and "decided at converged" in flipped.evidence
    assert finding([-0.2, 0.3, -0.1, 0.25, 0.0]).reproduced is True   # inconclusive at equal steps: no flip
    values["converged"] = [-0.3, -0.32, -0.31, -0.29, -0.33]
    assert finding([-0.2, -0.21, -0.19, -0.22, -0.2]).reproduced is False


def test_readme_teacher_logits_example_runs():
    """The README's example: the bucket keeps the students' mass outside the teacher's top 5
    near the teacher's, renormalising sends it toward 0 (X.8, X.9)."""
    from test_llm_distill import _run_readme_example

    rows = [line.split() for line in
            _run_readme_example("#### Teacher logits computed once: top k with a tail bucket").strip().splitlines()]
    assert [r[0] for r in rows] == ["bucket", "renormalised"] and rows[0][3] == "34"   # 5 x (2 + 4) + 4 bytes
    bucket, renorm, teacher = float(rows[0][1]), float(rows[1][1]), float(rows[0][2])
    assert renorm < 0.2 * bucket and abs(bucket - teacher) < 0.01 * teacher   # run: 0.0730, 0.8043 against 0.8041
