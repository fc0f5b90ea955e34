"""QA corpora, offline SBERT embeddings, target selection from k samples, text metrics."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chisquare

from jaxkd.data import qa, qa_concepts
from jaxkd.llm import metrics, selection

FIXTURES = Path(__file__).parent / "fixtures"


def test_synthetic_corpus_is_deterministic_and_spans_ambiguity():
    a, b = qa.synthetic_qa(40, seed=3), qa.synthetic_qa(40, seed=3)
    assert a == b and a != qa.synthetic_qa(40, seed=4)
    ks = [len(it.answers) for it in a.items]
    assert sorted(set(ks)) == [1, 2, 3, 4, 5] and all(ks.count(k) == 8 for k in range(1, 6))
    for it in a.items:
        assert sum(it.probs) == pytest.approx(1.0) and list(it.probs) == sorted(it.probs, reverse=True)
    entropies = [it.entropy for it in a.items]
    assert min(entropies) == 0.0 and max(entropies) > 1.0  # per-prompt noise varies widely


def test_sampling_follows_the_stated_distributions():
    corpus = qa.synthetic_qa(40, seed=0)
    draws = corpus.sample(seed=1, per_question=2000)
    assert corpus.sample(seed=1, per_question=2000) == draws
    for i, item in enumerate(corpus.items):
        counts = np.bincount([a for q, a, _ in draws if q == i], minlength=len(item.answers))
        if len(item.answers) > 1:
            assert chisquare(counts, 2000 * np.asarray(item.probs)).pvalue > 1e-4
        else:
            assert counts.tolist() == [2000]
    # The drawn text is one of the answer's paraphrases, recognised by exact matching.
    assert all(corpus.exact_answer(q, t) == a for q, a, t in draws[:500])
    assert corpus.exact_answer(0, "Something else entirely.") == -1


def test_split_is_stratified_and_disjoint():
    train, test = qa.synthetic_qa(40).split(test_size=0.25, seed=0)
    assert len(train) == 30 and len(test) == 10
    assert not {it.question for it in train.items} & {it.question for it in test.items}
    assert sorted(len(it.answers) for it in test.items) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_loaders_and_their_errors(tmp_path):
    bio = qa.load_bioasq(FIXTURES / "bioasq_small.json")
    assert len(bio) == 2  # the question without an ideal answer is skipped
    assert bio.items[0].answers == ("The CFTR gene is mutated in cystic fibrosis.",)
    assert bio.items[1].probs == (1.0,)
    plain = qa.load_qa_json(FIXTURES / "qa_small.json")
    assert [it.question for it in plain.items] == ["What is the capital of France?", "Who wrote Hamlet?"]
    with pytest.raises(ValueError, match="does not exist"):
        qa.load_bioasq(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        qa.load_qa_json(tmp_path / "bad.json")
    (tmp_path / "wrong.json").write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(ValueError, match="entry 0 needs string fields"):
        qa.load_qa_json(tmp_path / "wrong.json")
    (tmp_path / "empty.json").write_text(json.dumps({"questions": []}))
    with pytest.raises(ValueError, match="is empty"):
        qa.load_bioasq(tmp_path / "empty.json")
    with pytest.raises(ValueError, match="at least 1"):
        qa.synthetic_qa(0)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    from jaxkd.llm.embeddings import Embedder

    return Embedder(cache_file=tmp_path_factory.mktemp("emb") / "cache.npz")


def test_embeddings_are_offline_normalised_and_cached(embedder):
    e = embedder.encode(["A dog.", "A cat.", "A dog."])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(e[0], e[2])
    from jaxkd.llm.embeddings import Embedder

    again = Embedder(cache_file=embedder.cache_file)  # the on-disk cache is reused
    assert "A cat." in again.cache
    np.testing.assert_array_equal(again.encode(["A cat."])[0], e[1])


def test_an_embedding_does_not_depend_on_the_texts_embedded_with_it():
    """A resumed run embeds other groups of texts than an uninterrupted one: the bits must agree."""
    from jaxkd.llm.embeddings import Embedder

    corpus = qa.synthetic_qa(30)
    texts = sorted({t for it in corpus.items for ps in it.paraphrases for t in ps})
    first, second = Embedder(), Embedder()
    first.cache, second.cache = {}, {}  # both cold (Embedder() without a file caches in memory only)
    a = first.encode(texts)
    mixed = texts[::3] + ["Something else entirely, of another length.", "A dog."]
    b = second.encode(mixed[::-1])[::-1]
    index = {t: i for i, t in enumerate(texts)}
    for t, vec in zip(mixed, b):
        if t in index:
            np.testing.assert_array_equal(vec, a[index[t]])


def test_hallucination_detector_agrees_with_exact_matching(embedder):
    """Over every question: each valid paraphrase maps to its own answer and each distractor
    paraphrase (a wrong answer of the same kind) is flagged, exactly as string matching says."""
    from jaxkd.llm.embeddings import answer_centroids

    corpus = qa.synthetic_qa(40)
    threshold = qa_concepts.HALLUCINATION_THRESHOLD
    for i, item in enumerate(corpus.items):
        cents = answer_centroids(embedder, item.paraphrases)
        texts = [t for ps in item.paraphrases for t in ps] + [t for ps in corpus.distractors[i] for t in ps]
        labels = metrics.classify(embedder.encode(texts), cents, threshold)
        np.testing.assert_array_equal(labels, [corpus.exact_answer(i, t) for t in texts])


def test_selection_on_hand_made_embeddings():
    e = np.array([[[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]]])  # one prompt, three samples
    texts = [["a", "b", "c"]]
    assert selection.select("single", texts) == [(0, "a")]
    assert selection.select("multi", texts) == [(0, "a"), (0, "b"), (0, "c")]
    # mean = (0.6, 0.533): closest is sample c.
    assert selection.select("averaging", texts, e) == [(0, "c")]
    # A confident student (tiny variance) at (0, 1) pulls the combination to sample b.
    student = np.array([[[0.0, 1.0], [0.01, 0.99995]]])
    idx, a_t = selection.variance_weighting(e, student)
    assert idx.tolist() == [1] and a_t[0] < 0.01
    # A noisy student leaves the teacher's mean in charge: averaging's choice.
    noisy = np.array([[[0.0, 1.0], [0.0, -1.0]]])
    assert selection.variance_weighting(e, noisy)[0].tolist() == [2]


@pytest.mark.parametrize("args, match", [
    (("magic", [["a"]]), "unknown method"),
    (("single", [[]]), "at least one teacher sample"),
    (("averaging", [["a"]]), "needs the teacher samples' embeddings"),
])
def test_selection_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        selection.select(*args)


def test_metrics_hand_computed():
    x, y = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    samples = np.stack([x, x, y])[None]  # (P=1, n=3, E=2): pairs (x,x) sim 1, (x,y) twice sim 0
    assert metrics.pairwise_cosine_distance(samples)[0] == pytest.approx(1 - 1 / 3)
    assert metrics.alignment(samples, np.stack([x, x])[None])[0] == pytest.approx(2 / np.sqrt(5))
    np.testing.assert_allclose(metrics.intra_model_variance(samples), [np.var([1, 1, 0], ddof=1)])
    students = np.stack([np.stack([x, x])[None], np.stack([y, y])[None]])  # (N=2, P=1, n=2, E)
    assert metrics.inter_student_variance(students) == pytest.approx(0.5)
    fit = metrics.noise_transfer([0.2, 0.4, 0.6], [0.1, 0.2, 0.3])
    assert fit["slope"] == pytest.approx(2.0) and fit["r2"] == pytest.approx(1.0)
    assert metrics.systematic_noise([0.3, 0.5], [0.1, 0.1]) == pytest.approx(0.3)
    labels = metrics.classify(np.stack([x, y, (x + y) / np.sqrt(2)]), np.stack([x]), 0.75)
    assert labels.tolist() == [0, -1, -1]
    assert metrics.answer_entropy([0, 0, 1, -1], 2) == pytest.approx(-(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)))
    assert metrics.answer_entropy([0, 0], 3) == 0.0
    assert metrics.narrower_share([0.1, 0.5, 0.2], [0.3, 0.4, 0.2]) == pytest.approx(1 / 3)
    assert metrics.ground_truth_similarity(np.stack([x, y]), np.stack([x])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two samples"):
        metrics.pairwise_cosine_distance(np.ones((1, 1, 2)))
