"""Flax GPT-2 against Hugging Face: logits, greedy generation, sampling, dropout, training through
the engine, checkpoints."""

import dataclasses
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from jaxkd.llm import ModelConfig, checkpoint, distill, metrics, objective, sampling, tokenizer
from jaxkd.llm.model import dropout, init

hf_logging.set_verbosity_error()
V, EOS = 97, 0


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = HFConfig(vocab_size=V, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                   bos_token_id=EOS, eos_token_id=EOS)
    model = GPT2LMHeadModel(cfg).eval()
    folder = tmp_path_factory.mktemp("hf-tiny")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def ours(hf_dir):
    return checkpoint.load(hf_dir[0])


def _batch(seed=0, B=3, T=12):
    toks = np.random.default_rng(seed).integers(1, V, size=(B, T))
    mask = np.ones_like(toks)
    mask[0, :4] = 0
    mask[1, :2] = 0
    return toks, mask


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_logits_match_hugging_face(hf_dir, ours):
    toks, _ = _batch()
    with torch.no_grad():
        ref = hf_dir[1](torch.tensor(toks)).logits.numpy()
    assert _rel(np.asarray(ours(jnp.asarray(toks))), ref) < 1e-4


def test_logits_match_on_padded_batches(hf_dir, ours):
    toks, mask = _batch(1)
    pos = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        ref = hf_dir[1](torch.tensor(toks), attention_mask=torch.tensor(mask),
                        position_ids=torch.tensor(pos)).logits.numpy()
    out = np.asarray(ours(jnp.asarray(toks), attention_mask=jnp.asarray(mask)))
    valid = mask.astype(bool)
    assert _rel(out[valid], ref[valid]) < 1e-4


def _hf_generate(hf, toks, mask, **kw):
    with torch.no_grad():
        out = hf.generate(torch.tensor(toks), attention_mask=torch.tensor(mask), pad_token_id=EOS,
                          eos_token_id=EOS, **kw)
    return out[:, toks.shape[1]:].numpy()


def test_greedy_generation_matches_hugging_face(hf_dir, ours):
    toks, mask = _batch(2)
    ref = _hf_generate(hf_dir[1], toks, mask, do_sample=False, max_new_tokens=12)
    cfg = sampling.SamplingConfig(max_new_tokens=12, greedy=True, repetition_penalty=1.0)
    out = sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(0), 3), cfg)
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_greedy_with_repetition_penalty_matches_hugging_face(hf_dir, ours):
    toks = np.random.default_rng(3).integers(1, V, size=(2, 8))
    mask = np.ones_like(toks)
    ref = _hf_generate(hf_dir[1], toks, mask, do_sample=False, max_new_tokens=12, repetition_penalty=1.2)
    cfg = sampling.SamplingConfig(max_new_tokens=12, greedy=True, repetition_penalty=1.2)
    out = sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(0), 2), cfg)
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_sampling_is_reproducible_and_per_sequence(ours):
    toks, mask = _batch(4)
    cfg = sampling.SamplingConfig(max_new_tokens=10, temperature=1.0, top_k=20, repetition_penalty=1.0)
    keys = jax.random.split(jax.random.key(7), 3)
    a = np.asarray(sampling.generate(ours, toks, mask, keys, cfg))
    np.testing.assert_array_equal(a, np.asarray(sampling.generate(ours, toks, mask, keys, cfg)))
    other = np.asarray(sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(8), 3), cfg))
    assert not np.array_equal(a, other)
    # A sequence's sample depends only on its own prompt and key, not on the batch around it.
    alone = np.asarray(sampling.generate(ours, toks[2:], mask[2:], keys[2:], cfg))
    np.testing.assert_array_equal(alone[0], a[2])


def test_samples_of_one_prompt_share_its_prefill_exactly(ours):
    """n samples per prompt prefill the prompt once (``repeats``): the same draws as a prefill of
    every row, with the padding kept per prompt; rows that are not groups of identical prompts are
    refused (a shared prefill would sample another prompt's continuation)."""
    toks, mask = _batch(6)
    n = 4
    rows, rmask = np.repeat(toks, n, axis=0), np.repeat(mask, n, axis=0)
    cfg = sampling.SamplingConfig(max_new_tokens=8, temperature=1.3, top_k=20)
    keys = jax.random.split(jax.random.key(2), rows.shape[0])
    every = np.asarray(sampling.generate(ours, rows, rmask, keys, cfg))
    shared = np.asarray(sampling.generate(ours, rows, rmask, keys, cfg, repeats=n))
    np.testing.assert_array_equal(shared, every)
    assert len({tuple(r) for r in every[:n]}) > 1            # the samples of one prompt differ
    with pytest.raises(ValueError, match="not groups of that many identical prompts"):
        sampling.generate(ours, np.tile(toks, (n, 1)), np.tile(mask, (n, 1)), keys, cfg, repeats=n)


def test_temperature_to_zero_is_greedy(ours):
    toks, mask = _batch(5)
    keys = jax.random.split(jax.random.key(1), 3)
    top1 = sampling.SamplingConfig(max_new_tokens=10, top_k=0, repetition_penalty=1.0, greedy=True)
    greedy = sampling.generate(ours, toks, mask, keys, top1)
    cold = sampling.generate(ours, toks, mask, keys, top1.at(1e-4))
    np.testing.assert_array_equal(np.asarray(cold), np.asarray(greedy))
    assert top1.at(1e-4).greedy is False
    # Greedy decoding ignores the temperature.
    hot = sampling.generate(ours, toks, mask, keys, dataclasses.replace(top1, temperature=3.0))
    np.testing.assert_array_equal(np.asarray(hot), np.asarray(greedy))


def test_top_k_never_samples_outside_the_top_k(ours):
    toks = np.tile(np.random.default_rng(6).integers(1, V, size=(1, 6)), (256, 1))
    mask = np.ones_like(toks)
    cfg = sampling.SamplingConfig(max_new_tokens=1, temperature=1.5, top_k=3, repetition_penalty=1.0)
    drawn = np.asarray(sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(2), 256), cfg))[:, 0]
    top3 = set(np.argsort(np.asarray(ours(jnp.asarray(toks[:1])))[0, -1])[-3:].tolist())
    assert set(drawn.tolist()) <= top3 and len(set(drawn.tolist())) == 3


def test_eos_pads_the_rest(ours):
    toks, mask = _batch(2)
    cfg = sampling.SamplingConfig(max_new_tokens=8, greedy=True)
    keys = jax.random.split(jax.random.key(0), 3)
    free = np.asarray(sampling.generate(ours, toks, mask, keys, cfg))
    eos = int(free[0, 0])  # declare the first greedy token of row 0 the end of sequence
    out = np.asarray(sampling.generate(ours, toks, mask, keys, cfg, eos_id=eos))
    assert np.all(out[0] == eos)
    for row in out:
        hits = np.flatnonzero(row == eos)
        if hits.size:
            assert np.all(row[hits[0]:] == eos)


def test_sequence_logprob_matches_hugging_face(hf_dir, ours):
    toks = np.random.default_rng(9).integers(1, V, size=(2, 10))
    mask = np.ones_like(toks)
    target = np.zeros_like(toks)
    target[:, 6:] = 1
    with torch.no_grad():
        logp = torch.log_softmax(hf_dir[1](torch.tensor(toks)).logits, -1).numpy()
    ref = [sum(logp[b, t - 1, toks[b, t]] for t in range(6, 10)) for b in range(2)]
    np.testing.assert_allclose(sampling.sequence_logprob(ours, toks, mask, target), ref, rtol=1e-5)


def test_save_load_roundtrip_is_exact_and_exports_to_hugging_face(tmp_path, ours):
    folder = checkpoint.save(ours, tmp_path / "ckpt")
    again = checkpoint.load(folder)
    for a, b in zip(jax.tree.leaves(jax.tree.map(np.asarray, nnx_state(ours))),
                    jax.tree.leaves(jax.tree.map(np.asarray, nnx_state(again)))):
        np.testing.assert_array_equal(a, b)
    hf = GPT2LMHeadModel.from_pretrained(folder).eval()
    toks, _ = _batch(3)
    with torch.no_grad():
        ref = hf(torch.tensor(toks)).logits.numpy()
    assert _rel(np.asarray(ours(jnp.asarray(toks))), ref) < 1e-4


def nnx_state(model):
    return nnx.state(model)


def test_bad_checkpoints_are_clear_errors(tmp_path, hf_dir):
    with pytest.raises(ValueError, match="does not exist"):
        checkpoint.load(tmp_path / "nowhere")
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "config.json").write_text((hf_dir[0] / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        checkpoint.load(bad)
    mism = tmp_path / "mismatch"
    mism.mkdir()
    cfg = json.loads((hf_dir[0] / "config.json").read_text())
    cfg["n_embd"], cfg["n_layer"] = 48, 3
    (mism / "config.json").write_text(json.dumps(cfg))
    (mism / "model.safetensors").write_bytes((hf_dir[0] / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="wte.weight has shape \\(97, 32\\), expected \\(97, 48\\).*missing key h.2"):
        checkpoint.load(mism)
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert' is not a decoder jaxkd computes"):
        checkpoint.load(other)


def _toy_batches(T=24, B=16, steps=200, seed=0):
    """Sequences cycling through 'prompt' tokens 3..10: fully predictable after one period."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        start = rng.integers(0, 8, size=B)
        toks = 3 + (start[:, None] + np.arange(T)[None]) % 8
        loss_mask = np.ones((B, T), np.int32)
        loss_mask[:, :4] = 0  # the first tokens act as an unscored prompt
        yield toks, np.ones((B, T), np.int32), loss_mask


def _toy_pairs(B=64, T=24, seed=0) -> distill.Pairs:
    batches = list(_toy_batches(T=T, B=B, steps=1, seed=seed))
    toks, mask, loss_mask = batches[0]
    return distill.Pairs(toks.astype(np.int32), mask, loss_mask)


def test_training_drives_loss_down():
    """distill.fine_tune (one student through the engine) learns a predictable sequence, and
    returns the loss of every step."""
    model = init(ModelConfig.tiny(vocab_size=32), jax.random.key(0))
    trained, losses = distill.fine_tune(model, _toy_pairs(), jax.random.key(1), epochs=50, batch_size=16,
                                        optimizer="warmup-cosine", learning_rate=3e-3)
    assert losses.shape == (50 * 4,)
    assert losses[0] > 2.5  # about log(32) at init
    assert np.mean(losses[-10:]) < 0.05
    toks, mask, loss_mask = next(_toy_batches(B=4))
    per = objective.token_losses(trained(jnp.asarray(toks)), jnp.asarray(toks), objective.Loss())
    assert float(objective.masked_mean(per, jnp.asarray(loss_mask), jnp.ones(4, bool))) < 0.05


def test_loss_mask_and_soft_targets():
    model = init(ModelConfig.tiny(vocab_size=32), jax.random.key(1))
    toks, _, loss_mask = next(_toy_batches(B=2))
    logits = model(jnp.asarray(toks))
    per = objective.token_losses(logits, jnp.asarray(toks), objective.Loss())
    loss = objective.masked_mean(per, jnp.asarray(loss_mask), jnp.array([True, True]))
    logp = jax.nn.log_softmax(logits[:, :-1], -1)
    nll = -jnp.take_along_axis(logp, jnp.asarray(toks)[:, 1:, None], -1)[..., 0]
    w = jnp.asarray(loss_mask[:, 1:], jnp.float32)
    manual = jnp.sum(nll * w) / jnp.sum(w)
    assert float(loss) == pytest.approx(float(manual), rel=1e-5)
    # A padded (invalid) sequence does not count.
    only_first = objective.masked_mean(per, jnp.asarray(loss_mask), jnp.array([True, False]))
    assert float(only_first) == pytest.approx(float(jnp.sum(nll[0] * w[0]) / jnp.sum(w[0])), rel=1e-5)
    soft = objective.token_losses(logits, jnp.asarray(toks), objective.Loss("forward_kl"), logits)
    assert float(jnp.max(jnp.abs(soft))) == pytest.approx(0.0, abs=1e-5)


def test_soft_target_loss_is_hinton_kl_times_t_squared():
    # By hand: teacher logits (0, ln 3) at T = 2 give p = (1, sqrt 3) / (1 + sqrt 3); a uniform
    # student gives q = (1/2, 1/2); KL(p || q) = sum p log(2 p); times T^2 = 4.
    p = np.array([1.0, np.sqrt(3.0)]) / (1.0 + np.sqrt(3.0))
    by_hand = 4.0 * float(np.sum(p * np.log(2.0 * p)))
    got = objective.soft_target_kl(jnp.zeros(2), jnp.array([0.0, np.log(3.0)]), 2.0)
    assert float(got) == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx(0.1454, abs=1e-4)  # 4 * (0.366 ln 0.732 + 0.634 ln 1.268)
    # And against torch's KLDivLoss on random (B, T, V) logits.
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(2, 5, 11)) * 3, rng.normal(size=(2, 5, 11)) * 3
    ref = torch.nn.functional.kl_div(torch.log_softmax(torch.tensor(s) / 1.5, -1), torch.log_softmax(torch.tensor(t) / 1.5, -1),
                                     reduction="none", log_target=True).sum(-1).numpy() * 1.5**2
    np.testing.assert_allclose(np.asarray(objective.soft_target_kl(jnp.asarray(s), jnp.asarray(t), 1.5)), ref, rtol=1e-5)


def test_soft_targets_come_from_the_teacher_inside_the_step():
    """Students distilled with the forward-KL loss move toward the teacher's next-token
    distribution, and distill refuses a missing, unused or mismatched teacher."""
    teacher = init(ModelConfig.tiny(vocab_size=32), jax.random.key(7))
    student = init(ModelConfig.tiny(vocab_size=32), jax.random.key(8))
    pairs = _toy_pairs(B=8)
    toks = jnp.asarray(pairs.tokens)

    def gap(model):
        return float(jnp.mean(objective.soft_target_kl(model(toks), teacher(toks), 1.0)))

    before = gap(student)
    keys = jax.random.split(jax.random.key(2), 2)
    out = distill.distill(student, pairs, order_keys=keys, epochs=60, batch_size=8, learning_rate=3e-3,
                          loss=objective.Loss("forward_kl"), teacher=teacher)
    assert gap(out.model(0)) < 0.3 * before and gap(out.model(1)) < 0.3 * before
    with pytest.raises(ValueError, match="needs the teacher"):
        distill.distill(student, pairs, order_keys=keys, epochs=1, batch_size=8, loss=objective.Loss("forward_kl"))
    with pytest.raises(ValueError, match="would not be used"):
        distill.distill(student, pairs, order_keys=keys, epochs=1, batch_size=8, teacher=teacher)
    with pytest.raises(ValueError, match="vocabulary"):
        distill.distill(student, pairs, order_keys=keys, epochs=1, batch_size=8, loss=objective.Loss("forward_kl"),
                        teacher=init(ModelConfig.tiny(vocab_size=40), jax.random.key(0)))


def test_vmapped_students_equal_separate_training():
    """Two students trained at once (their own inits and data orders) equal each trained alone;
    in chunks of one student they are each trained alone exactly (the same program), and match
    the one-chunk run to float32 rounding (a vmap of another width)."""
    inits = [init(ModelConfig.tiny(vocab_size=32), jax.random.key(i)) for i in range(2)]
    states = jax.tree.map(lambda *a: jnp.stack(a), *[nnx.state(m, nnx.Param) for m in inits])
    pairs = _toy_pairs(B=20)
    keys = jax.random.split(jax.random.key(3), 2)
    both = distill.distill(inits[0], pairs, order_keys=keys, epochs=2, batch_size=6, init_states=states,
                           learning_rate=1e-3)
    chunked = distill.distill(inits[0], pairs, order_keys=keys, epochs=2, batch_size=6, init_states=states,
                              learning_rate=1e-3, chunk=1)
    assert both.losses.shape == (2, 2 * 4) and chunked.compute == both.compute == distill.Compute(
        steps=8, epochs=2.0, pairs=20, training_tokens=2 * 20 * 24)
    np.testing.assert_allclose(both.losses, chunked.losses, rtol=1e-5)
    toks = jnp.asarray(pairs.tokens[:3])
    for i in range(2):
        alone = distill.distill(inits[i], pairs, order_keys=keys[i:i + 1], epochs=2, batch_size=6, learning_rate=1e-3)
        for a, b in zip(jax.tree.leaves(chunked.state(i, i + 1)), jax.tree.leaves(alone.states)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_allclose(np.asarray(both.model(i)(toks)), np.asarray(alone.model(0)(toks)),
                                   rtol=2e-4, atol=2e-4)


def test_dropout_follows_its_key_and_only_in_training():
    """Dropout at the config's rates, only with a key: the same key gives the same pass, another
    key another pass, no key the model's inference logits; and HF checkpoints' rates are read."""
    cfg = ModelConfig.tiny(vocab_size=32)
    model = init(cfg, jax.random.key(0))
    dropped = init(dataclasses.replace(cfg, embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1), jax.random.key(0))
    toks = jnp.asarray(_toy_pairs(B=2).tokens)
    plain = np.asarray(model(toks))
    np.testing.assert_array_equal(np.asarray(dropped(toks)), plain)             # no key: no dropout
    np.testing.assert_array_equal(np.asarray(model(toks, dropout_key=jax.random.key(1))), plain)  # rate 0
    a = np.asarray(dropped(toks, dropout_key=jax.random.key(1)))
    np.testing.assert_array_equal(a, np.asarray(dropped(toks, dropout_key=jax.random.key(1))))
    assert not np.allclose(a, plain) and not np.allclose(a, np.asarray(dropped(toks, dropout_key=jax.random.key(2))))
    # The kept fraction of an inverted dropout is 1 - rate and the expectation is unchanged.
    x = jnp.ones((200_000,))
    y = np.asarray(dropout(x, 0.1, jax.random.key(3)))
    assert abs(np.mean(y > 0) - 0.9) < 0.005 and abs(y.mean() - 1.0) < 0.01
    assert ModelConfig.from_hf({"model_type": "gpt2", "n_layer": 2}).resid_pdrop == 0.1  # Hugging Face's default
    with pytest.raises(ValueError, match="dropout_keys"):
        distill.distill(dropped, _toy_pairs(B=4), order_keys=jax.random.split(jax.random.key(0), 2), epochs=1,
                        batch_size=2)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        dataclasses.replace(cfg, attn_pdrop=1.0)


def test_bpe_tokenizer_roundtrip(tmp_path):
    texts = ["the capital of france is paris", "the capital of italy is rome"] * 20
    tok = tokenizer.train_bpe(texts, vocab_size=300)
    ids = tok("the capital of spain is madrid")["input_ids"]
    assert tok.decode(ids) == "the capital of spain is madrid"
    assert tok.eos_token_id == 0 and tok.pad_token_id == 1
    model = init(ModelConfig.tiny(vocab_size=len(tok)), jax.random.key(0))
    checkpoint.save(model, tmp_path / "m", tokenizer=tok)
    again = checkpoint.load_tokenizer(tmp_path / "m")
    assert again("paris")["input_ids"] == tok("paris")["input_ids"]
    with pytest.raises(ValueError, match="empty corpus"):
        tokenizer.train_bpe([])


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": -1.0}, "non-negative"), ({"temperature": 0.0}, "must be positive"), ({"top_k": -1}, "at least 0"),
    ({"repetition_penalty": 0.5}, ">= 1"), ({"max_new_tokens": 0}, "at least 1"), ({"greedy": 1}, "true or false"),
])
def test_bad_sampling_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampling.SamplingConfig(**kwargs)


def test_generation_longer_than_positions_is_refused(ours):
    toks, mask = _batch()
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        sampling.generate(ours, toks, mask, jax.random.split(jax.random.key(0), 3),
                          sampling.SamplingConfig(max_new_tokens=60))


def test_kth_largest_matches_top_k_including_ties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 1024)).astype(np.float32) * 5
    x[0, :10] = 3.0  # ties at the threshold
    x[1, 5] = -np.inf
    for k in (1, 3, 50, 1024):
        ref = np.sort(x, axis=-1)[:, -k]  # -inf for row 1 when k = 1024
        np.testing.assert_array_equal(np.asarray(sampling.kth_largest(jnp.asarray(x), k))[:, 0], ref)


def test_sampling_frequencies_follow_the_distribution(ours):
    toks = np.tile(np.random.default_rng(6).integers(1, V, size=(1, 6)), (4000, 1))
    cfg = sampling.SamplingConfig(max_new_tokens=1, temperature=1.0, top_k=0, repetition_penalty=1.0)
    drawn = np.asarray(sampling.generate(ours, toks, np.ones_like(toks), jax.random.split(jax.random.key(3), 4000), cfg))[:, 0]
    p = np.asarray(jax.nn.softmax(ours(jnp.asarray(toks[:1]))[0, -1]))
    top = np.argsort(p)[-5:]
    freq = np.array([np.mean(drawn == t) for t in top])
    assert np.all(np.abs(freq - p[top]) <= 5 * np.sqrt(p[top] * (1 - p[top]) / 4000) + 1e-3)


def test_distribution_measures_hand_computed():
    """S.2 on a case computed by hand: truth p = (0.5, 0.5) over two orthogonal answers."""
    c = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([0.5, 0.5])
    # A student that collapsed onto answer 0, one sample in four a hallucination.
    q = metrics.answer_distribution(np.array([0, 0, 0, -1]), 2)
    np.testing.assert_allclose(q, [0.75, 0.0, 0.25])
    m = metrics.distribution_measures(q, p, c)
    assert m["total_variation"] == pytest.approx(0.5 * (0.25 + 0.5 + 0.25))
    h_q = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert m["entropy_gap"] == pytest.approx(h_q - np.log(2))
    assert m["centroid_cosine"] == pytest.approx(1 / np.sqrt(2))  # (0.75, 0) against (0.5, 0.5)
    # The true distribution itself: distance 0, gap 0, cosine 1.
    exact = metrics.distribution_measures(np.array([0.5, 0.5, 0.0]), p, c)
    assert exact == pytest.approx({"total_variation": 0.0, "entropy_gap": 0.0, "centroid_cosine": 1.0})
    with pytest.raises(ValueError, match="K \\+ 1 = 3"):
        metrics.distribution_measures(np.array([0.5, 0.5]), p, c)


def test_plugin_floors_by_hand_and_by_simulation():
    """S.3: the floors of a perfect model's plug-in TV and entropy, by hand at n = 2 and against
    20,000 simulated sample sets; the corrected measures of a perfect model average 0."""
    f = metrics.plugin_floors([0.5, 0.5], 2)  # outcomes (2,0), (1,1), (0,2) with probabilities 1/4, 1/2, 1/4
    assert f["total_variation"] == pytest.approx(0.25) and f["entropy_bias"] == pytest.approx(-0.5 * np.log(2))
    assert metrics.plugin_floors([1.0], 8) == {"total_variation": 0.0, "entropy_bias": 0.0}
    p, n, draws = np.array([0.4, 0.3, 0.2, 0.1]), 8, 20_000
    rng = np.random.default_rng(0)
    labels = np.array([rng.choice(4, size=n, p=p) for _ in range(draws)])
    q = np.stack([np.bincount(lab, minlength=4) / n for lab in labels])
    tv = 0.5 * np.abs(q - p).sum(1)
    h = -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0), 1) + np.sum(p * np.log(p))
    floors = metrics.plugin_floors(p, n)
    assert abs(tv.mean() - floors["total_variation"]) < 5 * tv.std() / np.sqrt(draws)
    assert abs(h.mean() - floors["entropy_bias"]) < 5 * h.std() / np.sqrt(draws)
    assert abs(tv.mean() - 1.1 * floors["total_variation"]) > 5 * tv.std() / np.sqrt(draws)  # 10% off is caught
    corrected = [metrics.corrected_measures(lab, p) for lab in labels[:4000]]
    for k in ("tv_excess", "entropy_gap"):
        x = np.array([c[k] for c in corrected])
        assert abs(x.mean()) < 5 * x.std() / np.sqrt(len(x))
    # A model that collapses on the first answer: all excess, no hallucination; hallucinations counted apart.
    one = metrics.corrected_measures(np.zeros(8, int), p)
    assert one["hallucination"] == 0.0 and one["tv_excess"] == pytest.approx(0.6 - floors["total_variation"])
    mixed = metrics.corrected_measures(np.array([0, 1, -1, -1, 0, 1, 2, 3]), p)
    assert mixed["hallucination"] == 0.25 and np.isfinite(mixed["valid_tv_excess"])


def test_true_noise_against_simulated_answers():
    """S.4: the noise the true answer distribution has, against pairs of simulated answers
    (answer from p, paraphrase uniform), and a 10% error caught."""
    rng = np.random.default_rng(1)
    embs = [rng.normal(size=(3, 6)) for _ in range(3)]
    embs = [e / np.linalg.norm(e, axis=1, keepdims=True) for e in embs]
    p = np.array([0.5, 0.3, 0.2])
    draws = 200_000
    a, b = rng.choice(3, size=draws, p=p), rng.choice(3, size=draws, p=p)
    i, j = rng.integers(0, 3, size=draws), rng.integers(0, 3, size=draws)
    d = 1 - np.einsum("ne,ne->n", np.stack([embs[x][y] for x, y in zip(a, i)]),
                      np.stack([embs[x][y] for x, y in zip(b, j)]))
    exact = metrics.true_noise(p, embs)
    se = d.std() / np.sqrt(draws)
    assert abs(d.mean() - exact) < 5 * se and abs(d.mean() - 1.1 * exact) > 5 * se
    assert metrics.true_noise([1.0], [embs[0][:1]]) == pytest.approx(0.0, abs=1e-12)  # one answer, one wording


def test_importing_jaxkd_llm_changes_no_global_state():
    """``import jaxkd.llm`` (and the distillation API) sets no environment variable and no warning
    filter: silencing Hugging Face is the caller's call (jaxkd.progress.quiet_third_party)."""
    code = ("import os, warnings\n"
            "import jax, flax.nnx, scipy.stats, jaxkd\n"  # third-party imports set filters of their own
            "env, filters = dict(os.environ), list(warnings.filters)\n"
            "import jaxkd.llm, jaxkd.llm.distill, jaxkd.llm.checkpoint, jaxkd.llm.embeddings\n"
            "assert dict(os.environ) == env, sorted(set(os.environ.items()) ^ set(env.items()))\n"
            "assert list(warnings.filters) == filters, warnings.filters[:3]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
