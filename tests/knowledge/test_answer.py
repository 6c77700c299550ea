"""Grounded answers: written only from the retrieved passages, every claim's section among them, else none."""

from __future__ import annotations

from bot.knowledge.answer import cited_sections, grounded_answer
from tests.interview.test_model_reader import Scripted


async def test_an_answer_citing_retrieved_sections_is_kept(knowledge) -> None:  # type: ignore[no-untyped-def]
    passages = knowledge.search("竞争对手的私域都是怎么做的，我们要不要先研究一下")
    sections = [p.section for p in passages]
    model = Scripted(f"<think>想一想</think>要先研究同行的私域打法 [{sections[0]}]。")
    answer = await grounded_answer(model, "竞品怎么研究", passages)
    assert answer == f"要先研究同行的私域打法 [{sections[0]}]。" or answer is not None and sections[0] in answer
    assert all(p.text in model.prompts[0] for p in passages)  # the model saw the passages verbatim


async def test_uncited_or_foreign_citations_and_not_covered_give_no_answer(knowledge) -> None:  # type: ignore[no-untyped-def]
    passages = knowledge.search("竞争对手的私域都是怎么做的，我们要不要先研究一下")
    foreign = next(s for s in ("2.1", "6.4", "7", "4.4") if s not in {p.section for p in passages})
    for reply in (f"要先做调研 [{foreign}]。", "要先做调研。", "NOT_COVERED", None):
        assert await grounded_answer(Scripted(reply), "竞品怎么研究", passages) is None, reply
    assert await grounded_answer(None, "竞品怎么研究", passages) is None
    model = Scripted("不该被调用")
    assert await grounded_answer(model, "天气", []) is None and model.prompts == []  # never asked without passages


def test_cited_sections() -> None:
    assert cited_sections("甲 [4.1]。乙【5.2】，丙 [ 2.sum ]") == {"4.1", "5.2", "2.sum"}
