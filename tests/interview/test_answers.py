"""Labelled answers the reader learns from (bot/interview/answers.py) and how the reader uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.errors import RubricError
from bot.interview.answers import DEFAULT_ANSWERS, AnswerBank
from bot.interview.reader import AnswerReader, SemanticParams
from bot.interview.rubric import load_rubric
from tests.conftest import ROOT, write_set

RUBRIC = load_rubric(ROOT / "knowledge" / "rubric.yaml")


def test_the_shipped_bank_covers_every_question_and_level() -> None:
    bank = AnswerBank.load(DEFAULT_ANSWERS)
    assert {"dev", "holdout", "twin2"} <= set(bank.sets)
    for q in RUBRIC.questions:
        for o in q.options:
            assert bank.examples(q.id, o.level), (q.id, o.level)
    assert {r.kind for r in bank.non_answers} == {"vague", "offtopic", "question"}


def test_only_clear_answers_with_a_level_are_examples(tmp_path: Path) -> None:
    write_set(tmp_path, "a", """
- {question: goal_purpose, answer: 方案写好了老板签字了, level: 2, clear: true, kind: answer}
- {question: goal_purpose, answer: 写了备忘录不知道算不算, level: 1, clear: false, kind: answer}
- {question: goal_purpose, answer: 看情况吧, level: null, clear: false, kind: vague}
""")
    write_set(tmp_path, "b", "- {question: goal_purpose, answer: 还没想过, level: 0, clear: true}\n")
    bank = AnswerBank.load(tmp_path)
    assert bank.sets == ("a", "b")
    assert bank.examples("goal_purpose", 2) == ("方案写好了老板签字了",)
    assert bank.examples("goal_purpose", 1) == ()
    assert [r.answer for r in bank.non_answers] == ["看情况吧"]
    assert bank.without("b").examples("goal_purpose", 0) == ()
    assert bank.examples("goal_purpose", 0) == ("还没想过",)


def test_a_missing_folder_is_an_empty_bank(tmp_path: Path) -> None:
    assert AnswerBank.load(tmp_path / "none").rows == ()


@pytest.mark.parametrize("text", ["just text", "- {answer: 没有题号}\n", "- {question: q, answer: a, level: 高}\n"])
def test_a_malformed_set_names_the_file(tmp_path: Path, text: str) -> None:
    write_set(tmp_path, "broken", text)
    with pytest.raises(RubricError, match="broken.yaml"):
        AnswerBank.load(tmp_path)


def test_labelled_answers_teach_the_rules_new_wording(tmp_path: Path) -> None:
    # The rules alone cannot read "立项PPT老板圈了红框": two labelled answers saying as much make it the top option.
    q = RUBRIC.question("goal_purpose")
    text = "立项PPT老板圈了红框"
    assert AnswerReader().read(q, text).level is None
    write_set(tmp_path, "team", """
- {question: goal_purpose, answer: 立项PPT里目的那页老板圈了红框，就按这个做, level: 2, clear: true}
- {question: goal_purpose, answer: 老板在立项PPT上圈了复购, level: 2, clear: true}
""")
    got = AnswerReader(bank=AnswerBank.load(tmp_path)).read(q, text)
    assert got.level == q.max_level, got


class Letters:
    """A stand-in embedding model: a text's vector counts its characters (similar wording, similar vector)."""

    model_id = "letters"

    def __init__(self) -> None:
        self.calls = 0

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        out = []
        for t in texts:
            v = np.zeros(512, dtype=np.float32)
            for ch in t:
                v[ord(ch) % 512] += 1.0
            out.append(v.tolist())
        return out


def test_a_message_like_a_labelled_non_answer_is_asked_again(tmp_path: Path) -> None:
    write_set(tmp_path, "team", """
- {question: goal_kpi, answer: 我手机快没电了等下再说, level: null, clear: false, kind: offtopic}
- {question: goal_kpi, answer: 同行的复购率一般定多少合适, level: null, clear: false, kind: question}
""")
    q = RUBRIC.question("goal_purpose")
    reader = AnswerReader(embedder=Letters(), bank=AnswerBank.load(tmp_path))
    got = reader.read(q, "手机快没电了，等下再说")
    assert got.level is None and got.kind == "unclear" and "offtopic" in got.reason
    assert reader.read(q, "同行复购率一般定多少合适").kind == "question"
    # Without the margin rule the same message is left to the other voices.
    off = AnswerReader(embedder=Letters(), bank=AnswerBank.load(tmp_path),
                       params=SemanticParams(non_answer_margin=None))
    assert "like a labelled" not in off.read(q, "手机快没电了，等下再说").reason


def test_warm_up_embeds_every_example_once_and_can_stop() -> None:
    model = Letters()
    reader = AnswerReader(embedder=model, bank=AnswerBank.load(DEFAULT_ANSWERS))
    reader.warm_up(RUBRIC.questions)
    embedded = model.calls
    assert embedded >= len(AnswerBank.load(DEFAULT_ANSWERS).rows) // 2
    reader.read(RUBRIC.question("goal_kpi"), "指标定了复购率")
    assert model.calls == embedded + 1  # only the answer itself

    class Stopping(Letters):  # the bot stops the warm-up while the first question's examples are embedded
        def embed_queries(self, texts: list[str]) -> list[list[float]]:
            stopping.stop_warm_up()
            return super().embed_queries(texts)

    slow = Stopping()
    stopping = AnswerReader(embedder=slow, bank=AnswerBank.load(DEFAULT_ANSWERS))
    stopping.warm_up(RUBRIC.questions)
    first = RUBRIC.questions[0]
    assert slow.calls == sum(1 + len(o.examples) + len(AnswerBank.load(DEFAULT_ANSWERS).examples(first.id, o.level))
                             for o in first.options)


def test_the_products_reader_keeps_its_examples_vectors_for_the_next_start(tmp_path: Path) -> None:
    from bot.interview.reader import reader_for
    from bot.knowledge.embeddings import E5_MODEL_ID

    class E5Like(Letters):
        model_id = E5_MODEL_ID

    path = tmp_path / "reader_vectors.npz"
    first = E5Like()
    reader_for(first, AnswerBank.load(DEFAULT_ANSWERS), vectors_path=path).warm_up(RUBRIC.questions)
    assert path.exists() and first.calls > 0
    again = E5Like()
    restarted = reader_for(again, AnswerBank.load(DEFAULT_ANSWERS), vectors_path=path)
    restarted.warm_up(RUBRIC.questions)
    restarted.read(RUBRIC.question("goal_kpi"), "指标定了复购率")
    assert again.calls == 1  # only the answer
