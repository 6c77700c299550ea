"""The fitted gate and order of candidate sections (bot/knowledge/ranking.py) and search with them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.retrieval_eval import BANK, evaluate, load_items, model_samples
from bot.errors import RubricError
from bot.knowledge.questions import QuestionBank
from bot.knowledge.ranking import (
    DEFAULT_MODEL,
    FEATURES,
    GATE_FEATURES,
    AnswerGate,
    CoverageEvidence,
    SearchModel,
    SectionEvidence,
    SectionRanker,
    features,
    fit,
    fit_gate,
    gate_features,
    target,
)


def cand(section: str, *, fused: float = 1.0, cosine: float = 0.8, labelled: float = 0.0,
         doc: str = "guide") -> SectionEvidence:
    return SectionEvidence(doc, section, 0, fused, fused, 0.0, 0.0, fused, cosine, cosine, labelled)


def evidence(margin: float, *, like_not: float = 0.0, like: float = 0.0) -> CoverageEvidence:
    return CoverageEvidence(margin, 5.0, 0.8, like_not, like, False, (cand("4.2"),))


def test_features_say_what_kind_of_section_each_candidate_is() -> None:
    x = features([cand("0"), cand("4"), cand("4.sum"), cand("4.2", labelled=0.7, cosine=0.9, doc="other")])
    assert x.shape == (4, len(FEATURES))
    col = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert col["lead"] == [1, 0, 0, 0] and col["chapter"] == [0, 1, 0, 0] and col["summary"] == [0, 0, 1, 0]
    assert col["labelled_best"] == [0, 0, 0, 1] and col["closest_document"] == [0, 0, 0, 1]
    assert col["first"] == [1, 0, 0, 0] and col["second"] == [0, 1, 0, 0]
    assert target([cand("0"), cand("4.2")], {("guide", "4.2")}) == 1
    assert target([cand("0")], {("guide", "4.2")}) is None
    g = gate_features(evidence(0.05, like_not=0.5, like=0.2))
    assert g.shape == (2, len(GATE_FEATURES)) and not g[1].any()
    assert g[0, GATE_FEATURES.index("not_covered_lead")] == pytest.approx(0.3)


def test_fit_learns_to_prefer_the_subsection_to_its_summary() -> None:
    # The labelled answer is the subsection even though the summary scores a little higher on the fused voices.
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(200):
        a, b = float(rng.uniform(0.8, 1.0)), float(rng.uniform(0.7, 0.8))
        samples.append((features([cand("4.sum", fused=a), cand("4.2", fused=b), cand("3", fused=b - 0.1)]), 1))
    ranker = SectionRanker(fit(samples))
    ordered = ranker.order([cand("6.sum", fused=0.9), cand("6.3", fused=0.75), cand("5", fused=0.6)])
    assert [c.section for c in ordered][0] == "6.3"
    assert ranker.order([cand("1")]) == [cand("1")]


def test_the_gate_learns_the_margin_and_its_threshold_decides() -> None:
    # Covered questions have a dense margin above 0.04, labelled "not covered" ones below.
    rng = np.random.default_rng(5)
    margins = rng.uniform(0.0, 0.08, 300)
    gate = AnswerGate(fit_gate([(gate_features(evidence(float(m))), 0 if m > 0.04 else 1) for m in margins]), 0.5)
    assert gate.answers(evidence(0.07)) and not gate.answers(evidence(0.01))
    assert not replace(gate, threshold=0.9999).answers(evidence(0.05))


def test_a_model_file_round_trips_and_other_features_are_refused(tmp_path: Path) -> None:
    model = SearchModel(SectionRanker(tuple(float(i) for i in range(len(FEATURES)))),
                        AnswerGate(tuple(0.5 for _ in GATE_FEATURES), 0.7), "e5", ("tune",), 5)
    path = tmp_path / "search_model.yaml"
    model.save(path)
    assert SearchModel.load(path) == model
    path.write_text(path.read_text(encoding="utf-8").replace("lead:", "intro:"), encoding="utf-8")
    with pytest.raises(RubricError, match="--fit"):
        SearchModel.load(path)
    path.write_text("ranker: [", encoding="utf-8")
    with pytest.raises(RubricError, match="search model"):
        SearchModel.load(path)


def test_the_shipped_model_is_fitted_on_the_labelled_questions_as_they_are() -> None:
    from bot.knowledge.embeddings import E5_MODEL_ID

    model, bank = SearchModel.load(DEFAULT_MODEL), QuestionBank.load()
    assert (sorted(model.fitted_on), model.rows) == (sorted(bank.sets), len(bank.rows)), \
        "knowledge/questions/ changed: refit with python -m bench.retrieval_eval --fit"
    assert model.model_id.startswith(E5_MODEL_ID.split("@")[0]) and 0.5 <= model.gate.threshold < 1.0


def test_search_with_the_model_keeps_its_contract(knowledge) -> None:
    fitted = knowledge.with_questions(BANK).with_model(SearchModel.load())
    hits = fitted.search("怎么给用户分层", k=3)
    assert 1 <= len(hits) <= 3 and len({(h.doc, h.section) for h in hits}) == len(hits)
    assert len(fitted.search("用户画像怎么做", k=12)) > 8  # more than the ranker's candidates: the rest in fused order
    assert fitted.search("今天天气怎么样", k=3) == []
    within = fitted.search("用户画像", k=2, section="4.2")
    assert within and all(h.section == "4.2" for h in within)


def test_a_model_fitted_for_another_embedding_model_is_not_used(knowledge, caplog) -> None:
    other = replace(SearchModel.load(), model_id="another-model")
    labelled = knowledge.with_questions(BANK)
    plain = labelled.with_model(None)
    question = "竞品调研应该看哪些方面"
    assert [h.section for h in labelled.with_model(other).search(question)] == [h.section
                                                                                for h in plain.search(question)]
    assert "fitted for another-model" in caplog.text


def test_without_labelled_questions_the_model_is_not_used(knowledge, caplog) -> None:
    question = "用户画像怎么做"  # the model's features read the labelled questions: none, and it would guess
    assert [h.section for h in knowledge.with_model(SearchModel.load()).search(question)] == \
        [h.section for h in knowledge.with_model(None).search(question)]
    assert "no labelled questions" in caplog.text


# Fitted on five other article sets, the gate and ranker judge twin2 (written independently) — measured (issue #10,
# fifth round, with the labelled questions by meaning): hit@1 0.923, answered 0.953, refused 0.960 vs the hand-set
# rules' 0.888 / 0.947 / 0.980 in the same run (fourth round: 0.905 / 0.959 / 1.000 vs 0.858 / 0.941 / 0.980).
def test_a_model_fitted_on_other_sets_helps_on_an_unseen_one(knowledge) -> None:
    team = ("tune", "holdout", "holdout2", "twin", "twin3")
    ranker_samples, gate_samples = [], []
    for name in team:
        r, g = model_samples(knowledge.with_questions(BANK.without(name)), load_items(name))
        ranker_samples += r
        gate_samples += g
    model = SearchModel(SectionRanker(fit(ranker_samples)),
                        AnswerGate(fit_gate(gate_samples), SearchModel.load().gate.threshold), knowledge.store.model_id)
    labelled = knowledge.with_questions(BANK.without("twin2"))
    rules, _ = evaluate(labelled, load_items("twin2"))
    fitted, _ = evaluate(labelled.with_model(model), load_items("twin2"))
    assert fitted["hit@1"] >= rules["hit@1"] + 0.02 and fitted["hit@1"] >= 0.9, (fitted, rules)
    # The gate, with the threshold chosen for the model fitted on every set, answers and refuses about as the rules do.
    assert fitted["answered_in_scope"] + fitted["refused_off_topic"] >= rules["answered_in_scope"] + \
        rules["refused_off_topic"] - 0.03, (fitted, rules)
