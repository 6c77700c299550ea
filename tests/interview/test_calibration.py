"""The reader's fitted decision (bot/interview/calibration.py) and the product's reader that uses it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.errors import RubricError
from bot.interview.answers import AnswerBank
from bot.interview.calibration import DEFAULT_MODEL, FEATURES, LEVEL_FEATURES, ReaderModel, Voices, features, fit
from bot.interview.reader import AnswerReader, reader_for
from bot.interview.rubric import load_rubric

RUBRIC = load_rubric(Path(__file__).resolve().parents[2] / "knowledge" / "rubric.yaml")


def voices(e5: dict[int, float], *, rules_level: int = 0, near: float = 0.0, near_kind: str = "",
           cue: float | None = None) -> Voices:
    top = max(e5)
    return Voices(e5=e5, rules_scores={lv: 0.0 for lv in e5}, rules_level=rules_level, rules_confidence=0.3,
                  rules_evidence=0.3, rules_sure=False, hits={}, cue=cue, coverage=0.5, mixed=False, reservation=False,
                  allowed={lv: True for lv in e5}, near=near, near_kind=near_kind, top=top)


def test_features_have_a_row_per_option_and_one_for_no_option() -> None:
    x = features(voices({0: 0.90, 1: 0.93, 2: 0.91}, cue=1.0))
    assert x.shape == (4, len(FEATURES))
    assert x[1, FEATURES.index("e5_best")] == 1.0 and x[0, FEATURES.index("e5_best")] == 0.0
    assert x[2, FEATURES.index("cue_closeness")] == pytest.approx(1.0)  # the cue points at the top
    assert not x[:3, len(LEVEL_FEATURES):].any() and not x[3, : len(LEVEL_FEATURES)].any()


def test_fit_learns_which_voice_to_trust_and_the_threshold_asks_again() -> None:
    # The labelled answers mean the option nearest by e5, and "no option" when a non-answer is closer still.
    rng = np.random.default_rng(7)
    samples = []
    for _ in range(300):
        e5 = {lv: float(0.85 + 0.1 * rng.random()) for lv in range(3)}
        near = float(0.85 + 0.1 * rng.random())
        best = max(e5, key=lambda lv: e5[lv])
        v = voices(e5, rules_level=int(rng.integers(0, 3)), near=near, near_kind="vague")
        samples.append((features(v), 3 if near > e5[best] else best))
    model = ReaderModel(tuple(fit(samples)), threshold=0.6)
    clear = voices({0: 0.86, 1: 0.95, 2: 0.87}, rules_level=0, near=0.80, near_kind="vague")
    assert model.decide(clear)[0] == 1  # e5's clear lead wins over the rules, which the labels did not follow
    vague = voices({0: 0.86, 1: 0.88, 2: 0.87}, near=0.95, near_kind="vague")
    assert model.decide(vague)[0] is None  # most like a non-answer
    close = voices({0: 0.900, 1: 0.902, 2: 0.86})
    level, p = model.decide(close)
    assert level is None or p >= 0.6
    assert ReaderModel(model.weights, threshold=0.999).decide(close)[0] is None  # unsure: asked again


def test_the_hand_set_rules_agreeing_lower_the_bar() -> None:
    model = ReaderModel((), threshold=0.9, agree_threshold=0.6)
    probs: dict[int | None, float] = {0: 0.7, 1: 0.2, None: 0.1}
    assert model.wants_second_opinion(probs)
    assert model.choose(probs, hand=0) == (0, 0.7)
    assert model.choose(probs, hand=1) == (None, 0.7) and model.choose(probs) == (None, 0.7)
    assert model.choose({0: 0.95, None: 0.05}) == (0, 0.95)  # sure enough alone
    assert model.choose({0: 0.5, None: 0.5}, hand=0)[0] is None  # below both
    assert not model.wants_second_opinion({0: 0.2, None: 0.8})  # "no option" needs no second opinion


def test_a_model_file_round_trips_and_other_features_are_refused(tmp_path: Path) -> None:
    model = ReaderModel(tuple(float(i) / 10 for i in range(len(FEATURES))), 0.8, ("dev",), 10, 0.6)
    path = tmp_path / "reader_model.yaml"
    model.save(path)
    assert ReaderModel.load(path) == model
    path.write_text(path.read_text(encoding="utf-8").replace("e5_gap:", "e5_distance:"), encoding="utf-8")
    with pytest.raises(RubricError, match="--fit"):
        ReaderModel.load(path)
    path.write_text("weights: [", encoding="utf-8")
    with pytest.raises(RubricError, match="reader model"):
        ReaderModel.load(path)


def test_the_shipped_model_is_fitted_on_the_labelled_answers_as_they_are() -> None:
    model, bank = ReaderModel.load(DEFAULT_MODEL), AnswerBank.load()
    assert (model.fitted_on, model.rows) == (bank.sets, len(bank.rows)), \
        "knowledge/answers/ changed: refit with python -m bench.reader_eval --fit"
    assert 0.5 <= model.threshold < 1.0


def test_the_rules_alone_never_use_the_model() -> None:
    assert AnswerReader(model=ReaderModel.load()).model is None


# ------------------------------------------------------------------------------------- the product's reader
@pytest.fixture(scope="module")
def product_reader(kb_template: Path, tmp_path_factory: pytest.TempPathFactory) -> AnswerReader:
    from bot.knowledge.embeddings import E5Embeddings

    vectors = tmp_path_factory.mktemp("reader") / "reader_vectors.npz"
    shutil.copy(kb_template / "reader_vectors.npz", vectors)  # embedded by the session's warm-up
    return reader_for(E5Embeddings(), AnswerBank.load(), vectors_path=vectors, model=ReaderModel.load())


@pytest.mark.parametrize(("qid", "text", "level"), [
    ("org_roles", "运营、内容、客服、数据四个岗位都有专人，职责写进了岗位说明书，奖金和KPI挂钩", 3),
    ("content_matrix", "还没规划，现在想到什么发什么", 0),
    ("goal_purpose", "方案写好了，老板签了字，目标就是复购", 2),
])
def test_the_product_reader_reads_plain_answers(product_reader: AnswerReader, qid: str, text: str,
                                                level: int) -> None:
    got = product_reader.read(RUBRIC.question(qid), text)
    assert (got.level, got.kind) == (level, "answer"), got.reason
    model = product_reader.model
    assert model is not None and got.reason.startswith("model")
    assert got.confidence >= min(model.threshold, model.agree_threshold)


@pytest.mark.parametrize("text", ["今天天气不错", "看情况吧", "随便", "我们主要卖母婴用品"])
def test_the_product_reader_asks_again_rather_than_guess(product_reader: AnswerReader, text: str) -> None:
    got = product_reader.read(RUBRIC.question("goal_purpose"), text)
    assert got.level is None and got.kind in ("unclear", "question")


def test_the_product_reader_answers_a_side_question(product_reader: AnswerReader) -> None:
    got = product_reader.read(RUBRIC.question("goal_kpi"), "社群一般建多大比较合适？")
    assert got.kind == "question" and got.level is None
