"""The deterministic free-text answer reader (bot/interview/reader.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.reader_eval import evaluate, load_rows
from bot.interview.reader import AnswerReader, Reading
from bot.interview.rubric import load_rubric
from tests.conftest import ROOT

RUBRIC = load_rubric(ROOT / "knowledge" / "rubric.yaml")
READER = AnswerReader()
# A spread of three- and four-option questions across the dimensions.
SAMPLE = ["goal_purpose", "goal_kpi", "user_portrait", "research_data", "content_rhythm", "org_roles", "org_sop",
          "mindset_patience"]
ALL = [q.id for q in RUBRIC.questions]


def read(qid: str, text: str) -> Reading:
    return READER.read(RUBRIC.question(qid), text)


def top(qid: str) -> int:
    return RUBRIC.question(qid).max_level


# ---------------------------------------------------------------------------------- the canonical answers
@pytest.mark.parametrize("qid", ALL)
@pytest.mark.parametrize("text", ["还没有", "完全没做", "不清楚", "还没开始", "一点都没做", "压根没做过"])
def test_not_done_reads_lowest(qid: str, text: str) -> None:
    assert read(qid, text).level == 0


DONE = ["已经做了，有书面方案和负责人，每月复盘", "都做完了", "已经全部做完了，有负责人，每月复盘"]


@pytest.mark.parametrize("qid", ALL)
@pytest.mark.parametrize("text", DONE)
def test_done_reads_highest(qid: str, text: str) -> None:
    assert read(qid, text).level == top(qid)


@pytest.mark.parametrize("qid", ALL)
@pytest.mark.parametrize("text", ["部分做了", "正在做", "做了一半", "有负责人，但还没有书面方案"])
def test_partly_reads_in_between_or_asks(qid: str, text: str) -> None:
    level = read(qid, text).level
    assert level is None or 0 < level < top(qid)


@pytest.mark.parametrize("qid", [q.id for q in RUBRIC.questions if q.max_level == 2])
@pytest.mark.parametrize("text", ["部分做了", "正在做", "做了一半"])
def test_partly_reads_middle_on_three_options(qid: str, text: str) -> None:
    assert read(qid, text).level == 1


# ---------------------------------------------------------------------------------------------------- negation
@pytest.mark.parametrize("qid", SAMPLE)
def test_double_negation_is_done(qid: str) -> None:
    assert read(qid, "不是没做，是已经做完了").level == top(qid)


@pytest.mark.parametrize("qid", SAMPLE)
def test_negated_ready_phrase_is_not_ready(qid: str) -> None:
    level = read(qid, "没有书面方案，也没有负责人")
    assert level.level is not None and level.level < top(qid)


def test_negated_quality_word_is_partly() -> None:
    # "没有书面方案，但心里有数" is the "has an idea, not on paper" option.
    assert read("goal_purpose", "没有书面方案，不过老板和我心里都有数").level == 1
    assert read("goal_purpose", "有书面方案，团队也开会对齐过").level == 2


def test_contrast_done_then_not_is_partly() -> None:
    assert read("channel_map", "公众号和小程序都梳理了，线下门店还没弄").level == 1
    assert read("content_rhythm", "大促活动的节奏定了，但日常推送还没排").level == 1


def test_not_wanting_is_not_doing() -> None:
    assert read("content_matrix", "不是不想做，是一直还没开始").level == 0


def test_even_none() -> None:
    assert read("ops_capacity", "连一个写内容的人都没有").level == 0


# ------------------------------------------------------------------------------------------------ general cues
def test_cue_lexicon() -> None:
    assert read("mindset_patience", "老板希望下个月就要见效").level == 0
    assert read("mindset_patience", "不急着见效，预留了一年的冷启动预算").level == 2
    assert read("org_roles", "目前是客服顺手兼着做").level == 1
    assert read("org_sop", "没有成文的东西，全凭老员工经验").level == 0
    assert read("research_competitor", "竞品一点都没研究过").level == 0


# ------------------------------------------------------------------------------------------- options as text
@pytest.mark.parametrize("qid", SAMPLE)
def test_option_number_and_label(qid: str) -> None:
    q = RUBRIC.question(qid)
    n = len(q.options)
    assert read(qid, "1").level == n - 1
    assert read(qid, "第二个").level == n - 2
    assert read(qid, f"选{n}").level == 0
    for opt in q.options:
        assert read(qid, opt.label).level == opt.level


def test_out_of_range_number_asks_again() -> None:
    assert read("goal_purpose", "4").level is None  # three options


# ------------------------------------------------------------------------------------------------------ vague
@pytest.mark.parametrize("qid", SAMPLE)
@pytest.mark.parametrize("text", ["", "   ", "看情况", "看情况吧", "不好说", "嗯嗯", "这个嘛", "今天天气不错",
                                  "你们这个机器人是干嘛的？", "应该可以吧", "说不准，要问老板"])
def test_vague_asks_again(qid: str, text: str) -> None:
    got = read(qid, text)
    assert got.level is None
    assert got.confidence < 1.0


# ------------------------------------------------------------------------------------------- tuning-set floors
# The rules alone (no embedding model), on the team's tuning sets: dev 0.968 / 0.000 misread (clear answers),
# holdout 0.713 / 0.043; unclear answers asked again 0.63 / 0.63.
def test_dev_set_accuracy_floor() -> None:
    m = evaluate(RUBRIC, load_rows("dev"), AnswerReader())
    assert m["accuracy_clear"] >= 0.95
    assert m["wrong_clear"] <= 0.02
    assert m["asked_again_vague"] >= 0.6


def test_holdout_set_accuracy_floor() -> None:
    m = evaluate(RUBRIC, load_rows("holdout"), AnswerReader())
    assert m["accuracy_clear"] >= 0.70
    assert m["wrong_clear"] <= 0.06
    assert m["asked_again_vague"] >= 0.6


def test_union_misread_under_five_percent() -> None:
    m = evaluate(RUBRIC, load_rows("dev") + load_rows("holdout"), AnswerReader())
    assert m["wrong_clear"] <= 0.05


# The product's reader (rules + e5), on the tuning sets — measured (issue #10, second round): misread over all answers
# dev 0.006, holdout 0.027, holdout2 0.033 (twin 0.018); accuracy on clear answers 0.904 / 0.745 / 0.680 (twin 0.780).
@pytest.fixture(scope="module")
def semantic_reader() -> AnswerReader:
    from bot.knowledge.embeddings import E5Embeddings

    return AnswerReader(embedder=E5Embeddings())


@pytest.mark.parametrize(("name", "accuracy", "misread"), [("dev", 0.87, 0.03), ("holdout", 0.66, 0.08),
                                                           ("holdout2", 0.6, 0.06)])
def test_semantic_reader_floors(semantic_reader: AnswerReader, name: str, accuracy: float, misread: float) -> None:
    m = evaluate(RUBRIC, load_rows(name), semantic_reader)
    assert m["accuracy_clear"] >= accuracy and m["misread_all"] <= misread, m


def test_semantic_reader_reads_without_the_lexicon(semantic_reader: AnswerReader) -> None:
    # Wording the lexicon does not contain is read through the options' examples.
    q = RUBRIC.question("org_roles")
    got = semantic_reader.read(q, "运营、内容、客服、数据四个岗位都有专人，职责写进了岗位说明书")
    assert got.level == q.max_level and got.kind == "answer"


def test_semantic_reader_asks_when_the_voices_disagree(semantic_reader: AnswerReader) -> None:
    # Off-topic text is near no option's examples: asked again, never recorded.
    for text in ("今天天气不错", "我们主要卖母婴用品"):
        got = semantic_reader.read(RUBRIC.question("goal_purpose"), text)
        assert got.level is None and got.kind == "unclear"


@pytest.mark.parametrize("text", ["社群一般建多大比较合适？", "KPI一般定哪几个比较好", "what does LTV mean here?"])
def test_a_side_question_is_not_an_answer(semantic_reader: AnswerReader, text: str) -> None:
    got = semantic_reader.read(RUBRIC.question("goal_kpi"), text)
    assert got.kind == "question" and got.level is None


# ------------------------------------------------------------------------------------------ evidence agreement
def test_one_rough_detail_does_not_split_a_done_answer() -> None:
    # Several done clauses and one quantity word ("大概") are not "A done, B not".
    assert read("content_matrix", "日常、活动、服务三块都排好了，每月两场活动，选题库也建好了，比例大概是五五开").level == 2


def test_unread_content_lowers_confidence() -> None:
    # Only the last clause is understood; the first says something is there: not a confident "not done".
    got = read("research_tiering", "系统里按首单和复购打过标，金额那块没看")
    assert got.level != 0


def test_details_missing_is_partly() -> None:
    assert read("channel_funnel", "想用进群送小样的办法，具体送什么、放在哪还没定").level == 1


def test_threshold_controls_asking() -> None:
    q = RUBRIC.question("goal_purpose")
    assert AnswerReader(threshold=1.01).read(q, "没有书面方案，不过心里有数").level is None


# ------------------------------------------------------------------------------------------------ properties
_PAD = st.text(alphabet="我们公司这边的情况私域团队老板运营，。", max_size=12)


@settings(max_examples=150, deadline=None)
@given(qid=st.sampled_from(ALL), pad=_PAD)
def test_done_never_below_not_started(qid: str, pad: str) -> None:
    done = read(qid, pad + "已经全部做完了，有负责人，每月复盘").level
    not_started = read(qid, pad + "还没开始").level
    if done is not None and not_started is not None:
        assert done >= not_started
    assert done is None or done > 0


@settings(max_examples=200, deadline=None)
@given(qid=st.sampled_from(ALL), text=st.text(max_size=40))
def test_total_and_in_range(qid: str, text: str) -> None:
    got = read(qid, text)
    assert got.level is None or 0 <= got.level <= top(qid)
    assert 0.0 <= got.confidence <= 1.0


# ------------------------------------------------------------------------------------- issue #10, second round
def test_pinyin_and_slang_read_as_characters() -> None:
    assert read("content_matrix", "hai mei kaishi").level == 0
    assert read("goal_purpose", "木有，完全没想过").level == 0


@pytest.mark.parametrize("text", ["三个维度具体指什么？心理维度咋做", "小团队是不是一个人身兼多职就行",
                                  "深度调研一般要访谈多少人才够", "有没有SOP模板可以参考", "渠道活码是啥，和普通二维码有啥区别"])
def test_side_questions_inside_a_sentence(text: str) -> None:
    got = read("org_sop", text)
    assert got.kind == "question" and got.level is None


@pytest.mark.parametrize("text", ["人够不够、钱够不够都不知道", "画像？没有", "不知道该看哪些指标"])
def test_embedded_questions_are_answers(text: str) -> None:
    assert read("goal_boundary", text).kind != "question"


@pytest.mark.parametrize("text", ["应该能吧，具体我不太清楚", "差不多了吧应该", "这块比较复杂，一两句讲不清楚"])
def test_a_hedged_or_dodged_statement_asks_again(text: str) -> None:
    got = read("channel_tracking", text)
    assert got.level is None and got.kind == "unclear"


def test_a_condition_is_not_patience() -> None:
    assert read("mindset_patience", "三个月没效果就砍掉").level == 0


def test_a_split_answer_is_neither_end(semantic_reader: AnswerReader) -> None:
    q = RUBRIC.question("org_roles")
    got = semantic_reader.read(q, "运营和客服有专人，内容和数据是别的部门兼着，KPI只有运营有")
    assert got.level is None or 0 < got.level < q.max_level


# The product's reader (rules + e5 + the labelled answers of knowledge/answers/ + the decision fitted on them), each
# set read with itself left out of both — measured (issue #10, fourth round): holdout 0.809 / misread over all
# answers 0.009, twin2 0.852 / 0.018.
@pytest.mark.parametrize(("name", "accuracy", "misread"), [("holdout", 0.77, 0.02), ("twin2", 0.82, 0.03)])
def test_product_reader_on_a_set_left_out(name: str, accuracy: float, misread: float) -> None:
    from bench.reader_eval import reader_for_set

    m = evaluate(RUBRIC, load_rows(name), reader_for_set(name))
    assert m["accuracy_clear"] >= accuracy and m["misread_all"] <= misread, m
