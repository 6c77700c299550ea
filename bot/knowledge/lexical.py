"""Chinese lexical search: jieba tokenisation with a domain dictionary and synonyms, scored by BM25 (bm25s)."""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# Words jieba would otherwise cut apart; they carry the article's vocabulary.
DOMAIN_WORDS: tuple[str, ...] = (
    "私域", "公域", "前置工作", "前置动作", "私域运营", "用户画像", "用户洞察", "用户分层", "分层运营", "分层调研",
    "高价值用户", "潜力用户", "普通用户", "竞品", "竞品分析", "战略目标", "顶层设计", "触点", "触点设计", "内容矩阵",
    "节奏规划", "导流", "闭环监控", "组织分工", "SOP", "SCRM", "KPI", "ROI", "LTV", "复购", "复购率", "拉新", "裂变",
    "社群", "建群", "拉群", "退群", "企微", "企业微信", "视频号", "公众号", "朋友圈", "会员", "留存", "留人", "拉人",
    "获客", "私域流量", "流量池", "人群池", "数据化", "0阶段", "调研", "价值锚点", "同质化", "价格战", "割韭菜",
    "信任崩塌", "资源浪费", "战略错配", "护城河", "慢就是快", "冷启动", "长期资产", "心态", "跨部门", "协同",
    "激励制度", "生命周期", "权益", "活跃度", "转化", "复盘", "数据反馈", "数据闭环", "投入产出比", "客服",
)

# Everyday words people use for the article's terms: the query side is rewritten to the article's term,
# and the term is kept as well, so the original word still counts where the article uses it.
SYNONYMS: dict[str, str] = {
    "竞争对手": "竞品", "对手": "竞品", "同行": "竞品", "友商": "竞品", "竞对": "竞品",
    "老板": "企业", "公司": "企业", "品牌方": "企业",
    "顾客": "用户", "客户": "用户", "粉丝": "用户", "消费者": "用户", "会员们": "用户",
    "微信群": "社群", "群聊": "社群", "社区": "社群",
    "回购": "复购", "再次购买": "复购", "复购率": "复购",
    "目的": "目标", "愿景": "目标", "指标": "kpi", "考核": "kpi",
    "流程": "sop", "标准化": "sop",
    "画像": "用户画像", "人群": "用户", "分群": "分层", "分级": "分层",
    "问卷": "调研", "调查": "调研", "研究": "调研", "访谈": "调研",
    "渠道": "渠道", "入口": "渠道", "引流": "导流", "加粉": "导流",
    "团队": "组织", "部门": "组织", "分工": "组织分工", "人手": "团队",
    "工具": "工具", "系统": "工具", "软件": "工具",
    "失败率": "失败", "翻车": "失败", "做不起来": "失败", "凉了": "失败",
    "准备": "前置", "准备工作": "前置工作", "前期": "前置", "地基": "前置",
    "心急": "焦虑", "着急": "焦虑", "急于求成": "焦虑", "耐心": "慢",
    "长期": "长期", "短期": "短期",
    "发内容": "内容", "推文": "内容", "文案": "内容",
    "数据分析": "数据", "埋点": "数据",
    "活动": "活动", "优惠券": "福利",
}

STOPWORDS: frozenset[str] = frozenset(
    "的 了 是 在 和 与 及 或 也 都 就 而 并 但 又 很 更 最 把 被 让 给 对 从 向 到 为 以 于 之 其 这 那 这些 那些 "
    "一个 一种 一些 我 我们 你 你们 他 他们 她 它 它们 自己 什么 怎么 怎么样 怎样 如何 为什么 吗 呢 吧 啊 呀 哦 嘛 "
    "么 要 会 能 可以 应该 需要 还是 还 有 没 没有 不 是否 哪些 哪个 哪 多少 几 个 些 等 等等 如果 那么 因为 所以 "
    "一下 一点 现在 今天 已经 可能 真的 比较 非常 特别 这个 那个 时候 之前 之后 里 中 上 下 做 说 想 看 问 请问 "
    "请 帮 帮忙 知道 觉得 怎么办 该 得 着 过 呗 啦 吗 嗯 好 好的 谢谢 您 the a an of to and or is are what how".split()
)

_TOKEN_CLEAN_RE = re.compile(r"^[\W_]+$")
_ASCII_RE = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width) and lower case, so 'ＫＰＩ', 'KPI' and 'kpi' are one word."""
    return unicodedata.normalize("NFKC", text).lower()


class ChineseTokenizer:
    """jieba with the domain dictionary; thread-safe lazy initialisation (loading jieba takes ~1 s)."""

    def __init__(self, *, extra_words: Sequence[str] = ()) -> None:
        self._extra = tuple(extra_words)
        self._jieba: object | None = None
        self._lock = threading.Lock()

    def _tokenizer(self):  # type: ignore[no-untyped-def]
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    tk = jieba.Tokenizer()
                    for word in (*DOMAIN_WORDS, *SYNONYMS, *self._extra):
                        tk.add_word(normalise(word), freq=200_000)
                    tk.initialize()
                    self._jieba = tk
        return self._jieba

    def warm_up(self) -> None:
        """Loads the dictionary now rather than on the first query."""
        self._tokenizer()

    def tokens(self, text: str, *, query: bool = False) -> list[str]:
        """Search tokens: jieba's fine-grained cut, stopwords dropped, synonyms mapped to the article's words."""
        cut = self._tokenizer().lcut_for_search(normalise(text))  # type: ignore[attr-defined]
        out: list[str] = []
        for token in cut:
            token = token.strip()
            if not token or token in STOPWORDS or _TOKEN_CLEAN_RE.match(token):
                continue
            out.append(token)
            if token in SYNONYMS and SYNONYMS[token] != token:
                out.append(SYNONYMS[token])
            if query and len(token) >= 3 and not _ASCII_RE.fullmatch(token):
                # Unknown long words (e.g. "拉满人") still match through their characters' bigrams.
                out.extend(token[i : i + 2] for i in range(len(token) - 1) if token[i : i + 2] not in STOPWORDS)
        return out


@dataclass(frozen=True)
class LexicalHit:
    """A BM25 score for one indexed text, plus how much of the query it covered."""

    index: int
    score: float
    coverage: float  # share of the query's IDF mass found in this text, 0–1


class BM25Index:
    """BM25 over pre-tokenised texts, with per-query IDF coverage (used for the off-topic threshold)."""

    def __init__(self, token_lists: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.5) -> None:
        import bm25s

        self.size = len(token_lists)
        self.k1, self.b = k1, b
        self._sets = [frozenset(t) for t in token_lists]
        df: dict[str, int] = {}
        for s in self._sets:
            for token in s:
                df[token] = df.get(token, 0) + 1
        n = max(self.size, 1)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # A word no text contains weighs as much as the rarest word: it is evidence the question is elsewhere.
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        if self.size:
            self._bm25.index([list(t) or [""] for t in token_lists], show_progress=False)

    def idf(self, token: str) -> float:
        """Inverse document frequency (the unknown-word weight for words no text contains)."""
        return self._idf.get(token, self._unknown_idf)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every text for the query."""
        known = [t for t in query_tokens if t in self._idf]
        if not self.size or not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def coverage(self, query_tokens: Sequence[str], index: int) -> float:
        """Share of the query's IDF mass that text `index` contains."""
        unique = set(query_tokens)
        total = sum(self.idf(t) for t in unique)
        if total <= 0:
            return 0.0
        return sum(self.idf(t) for t in unique if t in self._sets[index]) / total
