"""Pinyin typed instead of characters is read as the words of the text it is about; English is left alone."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.knowledge.pinyin import Transcriber, looks_like_pinyin, split_syllables

# A guidance's words with their counts, as search gives them (jieba's words of the active version).
WORDS = Counter(["私域", "运营", "企业", "必须", "前期", "建立", "组织", "分工", "内容", "客服", "数据", "分析", "团队", "职责", "划分", "流程", "包括", "环节", "分层", "调研", "不同", "用户", "价值", "差异", "竞品", "少", "走", "弯路", "基础", "是否", "明确", "资源", "和", "完整", "用户", "私域"])


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(words=WORDS)


@pytest.mark.parametrize(("typed", "read"), [
    ("siyu zuzhi fengong", "私域组织分工"),
    ("fenceng diaoyan zenme zuo", "分层调研怎么做"),
    ("jingpin fenxi", "竞品分析"),
    ("yonghu jichu bu mingque", "用户基础不明确"),
    ("ziyuan he liucheng wanzheng ma", "资源和流程完整吗"),
    ("hai mei kaishi", "还没开始"),
])
def test_pinyin_reads_as_the_texts_words(transcriber: Transcriber, typed: str, read: str) -> None:
    assert transcriber.transcribe(typed) == read


def test_only_the_pinyin_stretch_of_a_mixed_run_is_read(transcriber: Transcriber) -> None:
    assert transcriber.transcribe("SOP liucheng baokuo naxie huanjie") == "SOP 流程包括哪些环节"
    assert transcriber.transcribe("我们的 KPI hai mei mingque") == "我们的 KPI 还没明确"


@pytest.mark.parametrize("english", [
    "not yet, sop done", "can you tie a pen", "a long man", "we have no plan yet",
    "Should I study how competitors set up their private traffic before starting my own?",
])
def test_english_is_left_as_typed(transcriber: Transcriber, english: str) -> None:
    assert transcriber.transcribe(english) == english


def test_a_later_reading_of_a_character_costs_more() -> None:
    # 内 is read nei first and na only rarely: "naxie" is the general word 哪些 even beside 包括内容 in the texts.
    assert Transcriber(["包括内容", "都包括内容"]).transcribe("baokuo naxie") == "包括哪些"


def test_runs_of_a_text_seen_once_are_no_entries() -> None:
    texts = ["已经写成方案了", "方案写成了", "还没开始"]  # a question's examples: 写成, 方案 twice; 成方 (an edge) once
    t = Transcriber(texts)
    assert t.transcribe("yijing xie cheng fangan le") == "已经写成方案了"
    assert ("cheng", "fang") not in t._table()


def test_a_lone_syllable_or_unknown_words_stay_as_typed() -> None:
    t = Transcriber(["完全无关的文字"])
    assert t.transcribe("hao") == "hao"  # one syllable: too little to tell
    assert t.transcribe("xiaohongshu toufang") == "xiaohongshu toufang"  # the vocabulary does not know them


def test_syllables() -> None:
    assert split_syllables("zhanlue", True) == ("zhan", "lue")  # ü typed as u
    assert split_syllables("zhanlve", True) == ("zhan", "lve")
    assert split_syllables("fengong", True) == ("fen", "gong")  # "ong" alone is no syllable
    assert split_syllables("team", True) is None
    assert looks_like_pinyin("SOP yinggai baokuo")
    assert not looks_like_pinyin("私域怎么做 KPI")


def test_search_reads_a_pinyin_question_as_the_guidance_words(knowledge) -> None:  # type: ignore[no-untyped-def]
    typed = knowledge.search("fenceng diaoyan zenme zuo", k=3)
    assert typed and typed[0].section == knowledge.search("分层调研怎么做", k=3)[0].section == "5.2"
    assert knowledge.search("zenme panduan qiye zhunbei hao le mei you", k=3)[0].section.startswith("6")


def test_capitals_are_acronyms_not_pinyin(transcriber: Transcriber) -> None:
    assert not looks_like_pinyin("企业微信的API怎么调用发消息")  # a + pi, but typed as an acronym
    assert transcriber.transcribe("API jingpin fenxi") == "API 竞品分析"


@pytest.mark.parametrize("wall", ["ha" * 2500, "a" * 5000, "ha " * 1700, "women " * 850])
def test_a_wall_of_letters_is_left_as_typed(transcriber: Transcriber, wall: str) -> None:
    assert transcriber.transcribe(wall) == wall  # 5,000 characters: no recursion error, no quadratic reading
