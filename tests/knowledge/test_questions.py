"""Labelled questions (bot/knowledge/questions.py) and how search uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.knowledge.questions import ARTICLE_DOC, DEFAULT_QUESTIONS, QuestionBank
from tests.conftest import write_set


def test_the_shipped_sets_load() -> None:
    bank = QuestionBank.load(DEFAULT_QUESTIONS)
    assert {"tune", "holdout", "twin2", "doc_sop", "doc_guide"} <= set(bank.sets)
    assert any(r.section is None for r in bank.rows) and any(r.doc != ARTICLE_DOC for r in bank.rows)


def test_nearest_by_shared_wording(tmp_path: Path) -> None:
    write_set(tmp_path, "a", """
- {q: "SOP 应该包括哪些环节", section: "4.5"}
- {q: "企业微信一天最多加多少好友", section: null}
- {q: "会员积分怎么设计", doc: membership, section: "5.1", also: ["5.2"]}
""")
    bank = QuestionBank.load(tmp_path)
    similarity, row = bank.nearest("sop应该包括哪些环节？")
    assert similarity == pytest.approx(1.0) and row is not None and row.section == "4.5"
    similarity, row = bank.nearest("企业微信每天能加多少好友")
    assert row is not None and row.section is None and 0.4 < similarity < 1.0
    assert bank.nearest("企业微信一天最多加多少好友的SOP")[1].section is None  # type: ignore[union-attr]
    assert bank.nearest("企业微信一天最多加多少好友的SOP", covered=True)[1].section == "4.5"  # type: ignore[union-attr]
    assert bank.nearest("企业微信一天最多加多少好友的SOP", covered=False)[1].section is None  # type: ignore[union-attr]
    assert bank.nearest("天气")[1] is None  # nothing shared
    assert bank.nearest("会员积分怎么设计")[1].answers == (("membership", "5.1"), ("membership", "5.2"))  # type: ignore[union-attr]
    assert bank.without("a").rows == ()


@pytest.mark.parametrize("text", ["{q: 一个字典}", "- {section: '1'}\n"])
def test_a_malformed_set_names_the_file(tmp_path: Path, text: str) -> None:
    write_set(tmp_path, "broken", text)
    with pytest.raises(ConfigError, match="broken.yaml"):
        QuestionBank.load(tmp_path)


def test_a_question_worded_like_a_labelled_one_gets_its_section_first(knowledge: Any, tmp_path: Path) -> None:
    query = "我们群里每天发广告，用户都退群了怎么办"
    plain = [p.section for p in knowledge.search(query, k=3)]
    assert len(plain) == 3
    wanted = plain[1]
    write_set(tmp_path, "team", f'- {{q: "群里天天发广告，用户都退群了怎么办", section: "{wanted}"}}\n')
    labelled = knowledge.with_questions(QuestionBank.load(tmp_path))
    got = [p.section for p in labelled.search(query, k=3)]
    assert got[0] == wanted and sorted(got) == sorted(plain)
    assert [p.section for p in labelled.search(query, k=1)] == [wanted]
    # A labelled section search did not find among its passages changes nothing (an updated guidance, another
    # document): the label is not trusted over the text.
    write_set(tmp_path, "team", '- {q: "群里天天发广告，用户都退群了怎么办", section: "no-such-section"}\n')
    assert [p.section for p in knowledge.with_questions(QuestionBank.load(tmp_path)).search(query, k=3)] == plain


def test_a_question_like_a_labelled_uncovered_one_is_refused(knowledge: Any, tmp_path: Path) -> None:
    query = "私域运营专员月薪一般多少"
    assert knowledge.search(query, k=3)  # the text alone finds passages that do not answer it
    write_set(tmp_path, "team", '- {q: "私域运营的工资一般开多少", section: null}\n')
    labelled = knowledge.with_questions(QuestionBank.load(tmp_path))
    assert labelled.search(query, k=3) == []
    # ... unless a passage is clearly close (the off-topic margin): the label does not refuse what the text answers.
    assert labelled.with_params(off_topic_margin=-1.0).search(query, k=3)


def test_a_not_covered_label_says_nothing_about_a_document_uploaded_since() -> None:
    from bot.knowledge.questions import ARTICLE_DOC, LabelledQuestion, QuestionBank

    about_article = LabelledQuestion("t", "裂变海报怎么设计", None)
    about_store = LabelledQuestion("t", "门店房租怎么谈", None, doc="store-guide")
    answered = LabelledQuestion("t", "裂变海报怎么设计才好", "3.1", doc="referral")
    assert about_article.holds_for(frozenset({ARTICLE_DOC})) and about_article.holds_for(None)
    assert not about_article.holds_for(frozenset({ARTICLE_DOC, "fission"}))  # the new document may cover it
    assert about_store.holds_for(frozenset({ARTICLE_DOC})) and about_store.holds_for(frozenset({ARTICLE_DOC,
                                                                                                 "store-guide"}))
    assert answered.holds_for(frozenset({"anything"}))
    bank = QuestionBank((about_article,))
    assert bank.nearest("裂变海报怎么设计", covered=False)[1] == about_article
    assert bank.nearest("裂变海报怎么设计", covered=False, documents=frozenset({ARTICLE_DOC, "fission"}))[1] is None


def test_labels_by_meaning_find_the_nearest_of_each_kind() -> None:
    from bot.knowledge.questions import DenseLabels, LabelledQuestion

    rows = (LabelledQuestion("t", "分层", "5.2"), LabelledQuestion("t", "也是分层", "5.2", also=("4.2",)),
            LabelledQuestion("t", "天气", None), LabelledQuestion("t", "房租", None, doc="store-guide"))
    matrix = np.eye(4, dtype=np.float32)
    labels = DenseLabels(QuestionBank(rows), matrix)
    sims = labels.similarities(np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32))
    assert labels.section_similarities(sims) == {(ARTICLE_DOC, "5.2"): pytest.approx(0.8),
                                                 (ARTICLE_DOC, "4.2"): pytest.approx(0.8)}
    assert labels.nearest(sims, covered=True) == pytest.approx(0.8)
    off = labels.similarities(np.array([0.0, 0.0, 0.3, 0.9], dtype=np.float32))
    article_only = frozenset({ARTICLE_DOC})
    assert labels.nearest(off, covered=False, documents=article_only) == pytest.approx(0.9)
    uploaded = frozenset({ARTICLE_DOC, "fission"})  # neither label was judged against this document
    assert labels.nearest(off, covered=False, documents=uploaded) == 0.0
    assert labels.nearest(off, covered=False, documents=uploaded, holding=False) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="3 vectors for 4"):
        DenseLabels(QuestionBank(rows), matrix[:3])


def test_the_shipped_question_vectors_hold_every_labelled_question() -> None:
    from bot.knowledge.embeddings import E5_MODEL_ID
    from bot.knowledge.questions import DEFAULT_QUESTION_VECTORS

    with np.load(DEFAULT_QUESTION_VECTORS, allow_pickle=False) as data:
        assert str(data["model"]) == E5_MODEL_ID
        texts = set(data["texts"].tolist())
        assert data["vectors"].shape[1] == 384
    missing = {r.q for r in QuestionBank.load(DEFAULT_QUESTIONS).rows} - texts
    assert not missing, f"refit with python -m bench.retrieval_eval --fit ({len(missing)} questions lack vectors)"
