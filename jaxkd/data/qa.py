"""Question-answering corpora whose answer distributions are known.

* :func:`synthetic_qa`: a bundled, seeded corpus about fictional entities. Each question has
  1 to 5 valid answers with known probabilities (a range of ambiguity, so per-prompt noise
  varies widely), and each answer is written in several paraphrases of plain English
  (``jaxkd/data/qa_concepts.py``). Because the valid answers are known, answer entropy and
  hallucination are measurable exactly.
* :func:`load_bioasq` (BioASQ's official JSON: ``questions[].body``, ``ideal_answer``) and
  :func:`load_qa_json` (``[{"question", "answer"}]``): one valid answer per question.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from jaxkd import _validation as v
from jaxkd.data import qa_concepts


@dataclasses.dataclass(frozen=True)
class QAItem:
    """One question and its known answer distribution.

    Attributes:
      question: the prompt text.
      answers: names of the valid answers (K of them).
      probs: their probabilities (K,), summing to one.
      paraphrases: for each valid answer, the texts that express it.
      held_out: the same question phrased another way (None where the corpus has none): what
        models are evaluated on when the question's own phrasing is used in training.
    """

    question: str
    answers: tuple[str, ...]
    probs: tuple[float, ...]
    paraphrases: tuple[tuple[str, ...], ...]
    held_out: str | None = None

    @property
    def entropy(self) -> float:
        """Exact entropy (nats) of the answer distribution."""
        return 0.0 - sum(p * math.log(p) for p in self.probs if p > 0)  # 0.0 -: no "-0.0"


@dataclasses.dataclass(frozen=True)
class QACorpus:
    """A list of :class:`QAItem`; ``distractors[i]`` are answers that are *not* valid for item i
    but belong to the same kind of question (used to check hallucination detection)."""

    name: str
    items: tuple[QAItem, ...]
    distractors: tuple[tuple[tuple[str, ...], ...], ...] = ()

    def __post_init__(self):
        if not self.items:
            raise ValueError(f"corpus {self.name!r} is empty.")

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, seed: int, per_question: int) -> list[tuple[int, int, str]]:
        """Draw ``per_question`` answers per question from the known distributions, each in a
        uniformly chosen paraphrase: a list of (question index, answer index, text)."""
        per_question = v.check_int("answers per question", per_question)
        rng = np.random.default_rng(seed)
        out = []
        for i, item in enumerate(self.items):
            for a in rng.choice(len(item.answers), size=per_question, p=np.asarray(item.probs)):
                texts = item.paraphrases[a]
                out.append((i, int(a), texts[rng.integers(len(texts))]))
        return out

    def exact_answer(self, index: int, text: str) -> int:
        """Index of the valid answer ``text`` spells exactly (after stripping), else -1."""
        text = text.strip()
        for a, texts in enumerate(self.items[index].paraphrases):
            if text in texts:
                return a
        return -1

    def split(self, test_size: float = 0.2, seed: int = 0) -> tuple["QACorpus", "QACorpus"]:
        """Train/test split of the questions, stratified by the number of valid answers."""
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(self.items))
        strata = [len(it.answers) for it in self.items]
        try:
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
        except ValueError:  # too few questions per stratum
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed)
        pick = lambda ix: QACorpus(  # noqa: E731
            self.name, tuple(self.items[i] for i in sorted(ix)),
            tuple(self.distractors[i] for i in sorted(ix)) if self.distractors else ())
        return pick(tr), pick(te)


def synthetic_qa(num_questions: int = 40, seed: int = 0) -> QACorpus:
    """The bundled synthetic corpus: deterministic for a seed.

    Question i asks template ``t = i mod 5`` about an entity; it has
    ``K = 1 + (t + i // 5) mod 5`` valid answers (a Latin square: every template sees every
    ambiguity level, and each K is equally common in every 25 questions), drawn without replacement
    from the template's six concepts, with probabilities from a seeded Dirichlet(2, ..., 2)
    sorted in decreasing order. The other concepts of the template are its distractors. Each
    question also has a held-out phrasing (``QAItem.held_out``) for evaluation.
    """
    num_questions = v.check_int("number of questions", num_questions)
    kinds = list(qa_concepts.TEMPLATES)
    pairs = [(e, k) for e in qa_concepts.ENTITIES for k in kinds]
    if num_questions > len(pairs):
        raise ValueError(f"at most {len(pairs)} synthetic questions exist, asked for {num_questions}.")
    rng = np.random.default_rng(seed)
    entities = rng.permutation(len(qa_concepts.ENTITIES))
    items, distractors = [], []
    for i in range(num_questions):
        kind = kinds[i % len(kinds)]
        entity = qa_concepts.ENTITIES[entities[(i // len(kinds)) % len(entities)]]
        template, concepts = qa_concepts.TEMPLATES[kind]
        K = 1 + (i % len(kinds) + i // len(kinds)) % 5
        chosen = rng.choice(len(concepts), size=K, replace=False)
        probs = np.sort(rng.dirichlet(np.full(K, 2.0)))[::-1] if K > 1 else np.ones(1)
        items.append(QAItem(template.format(e=entity), tuple(concepts[c][0] for c in chosen),
                            tuple(float(p) for p in probs), tuple(tuple(concepts[c][1]) for c in chosen),
                            qa_concepts.HELD_OUT_PHRASINGS[kind].format(e=entity)))
        distractors.append(tuple(tuple(concepts[c][1]) for c in range(len(concepts)) if c not in chosen))
    return QACorpus(f"synthetic-{num_questions}-seed{seed}", tuple(items), tuple(distractors))


def _read_json(path) -> object:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"QA file {path} does not exist.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"QA file {path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None


def _single_answer_corpus(name: str, pairs: list[tuple[str, str]]) -> QACorpus:
    items = tuple(QAItem(q, (a,), (1.0,), ((a,),)) for q, a in pairs)
    return QACorpus(name, items)


def load_bioasq(path) -> QACorpus:
    """BioASQ's official JSON: ``{"questions": [{"body": ..., "ideal_answer": str | [str]}]}``.
    Questions without an ideal answer are skipped; the first ideal answer is the valid one."""
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ValueError(f"{path} is not BioASQ JSON: expected an object with a 'questions' list.")
    pairs = []
    for q in data["questions"]:
        ideal = q.get("ideal_answer") if isinstance(q, dict) else None
        ideal = ideal[0] if isinstance(ideal, list) and ideal else ideal
        if isinstance(q, dict) and isinstance(q.get("body"), str) and isinstance(ideal, str) and ideal.strip():
            pairs.append((q["body"].strip(), ideal.strip()))
    return _single_answer_corpus(f"bioasq:{Path(path).name}", pairs)


def load_qa_json(path) -> QACorpus:
    """A plain ``[{"question": str, "answer": str}, ...]`` file."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of {{'question', 'answer'}} objects.")
    pairs = []
    for i, row in enumerate(data):
        if not (isinstance(row, dict) and isinstance(row.get("question"), str) and isinstance(row.get("answer"), str)):
            raise ValueError(f"{path}: entry {i} needs string fields 'question' and 'answer'.")
        pairs.append((row["question"].strip(), row["answer"].strip()))
    return _single_answer_corpus(f"qa:{Path(path).name}", pairs)


def load_qa_file(path) -> QACorpus:
    """A BioASQ file or a plain ``[{question, answer}]`` JSON file (told apart by their shape)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--qa-file {path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    return load_bioasq(path) if isinstance(data, dict) else load_qa_json(path)
