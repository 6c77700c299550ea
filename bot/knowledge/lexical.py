"""Chinese lexical search: jieba words with a domain dictionary and synonyms, character bigrams, BM25.

Three things make plain jieba BM25 work on everyday questions about the guidance:

* a domain dictionary, so the article's terms (私域, 竞品, 用户画像 …) stay whole words;
* synonyms on the query side: the everyday word people type (同行, 摸底, 栽跟头, 客户) also searches for the
  article's term (竞品, 调研, 失败, 用户); the original word is kept, so it still counts where the article uses it;
* character bigrams next to the words, so a word jieba cuts differently in the question and in the text still meets.

The same tokenizer also tells domain words from everyday ones for the off-topic rule: `background_idf` is a word's
rarity in jieba's general-Chinese dictionary (企业, 公司 and 问题 are common; 私域 and 竞品 are not in it at all).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

# Words jieba would otherwise cut apart; they carry the article's vocabulary.
DOMAIN_WORDS: tuple[str, ...] = (
    "私域", "公域", "前置工作", "前置动作", "前置准备", "私域运营", "用户画像", "用户洞察", "用户分层", "分层运营",
    "分层调研", "高价值用户", "潜力用户", "普通用户", "竞品", "竞品分析", "战略目标", "顶层设计", "触点", "触点设计",
    "内容矩阵", "节奏规划", "导流", "闭环监控", "组织分工", "SOP", "SCRM", "KPI", "ROI", "LTV", "复购", "复购率",
    "拉新", "裂变", "社群", "建群", "拉群", "退群", "进群", "企微", "企业微信", "视频号", "公众号", "朋友圈", "会员",
    "留存", "留人", "拉人", "获客", "私域流量", "流量池", "人群池", "数据化", "0阶段", "调研", "价值锚点", "同质化",
    "价格战", "割韭菜", "信任崩塌", "资源浪费", "战略错配", "护城河", "慢就是快", "冷启动", "长期资产", "心态",
    "跨部门", "协同", "激励制度", "生命周期", "权益", "活跃度", "转化", "复盘", "数据反馈", "数据闭环", "投入产出比",
    "客服", "用户量", "用户资产", "速效药", "万能药", "立竿见影", "即时见效", "试一试", "群员数", "扫码",
)

# The article's term → everyday words and phrasings that mean it. A query word listed here also searches for the
# term; one word may point to several terms. Only general vocabulary belongs here, never one question's oddity.
SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    # who and what
    "竞品": ("竞争对手", "对手", "竞对", "友商", "同行", "同业", "别家", "别人家"),
    "行业": ("同行", "同业", "赛道"),
    "用户": ("客户", "顾客", "消费者", "粉丝", "客人", "买家", "会员们", "人群"),
    "企业": ("公司", "老板", "品牌方", "商家"),
    "高层": ("老板", "领导", "管理层", "决策层", "老总"),
    "社群": ("微信群", "群聊", "社区", "粉丝群"),
    "工具": ("系统", "软件", "平台"),
    "组织": ("团队", "部门", "人手", "人员"),
    "跨部门": ("部门", "各部门", "市场部", "销售部", "运营部", "事业部"),
    "协同": ("配合", "协作", "扯皮", "推诿", "甩锅", "互相推"),
    "组织分工": ("分工", "职责", "谁负责", "谁来做"),
    "用户画像": ("画像", "用户特征", "人群特征"),
    "用户量": ("人数", "用户数", "客户数", "粉丝数", "体量", "用户规模", "几百", "几千", "几万", "多少人"),
    # what to do
    "调研": ("摸底", "摸个底", "摸清", "调查", "问卷", "研究", "访谈", "考察", "市场调查"),
    "目标": ("目的", "愿景", "方向", "要达到"),
    "kpi": ("指标", "考核", "绩效"),
    "激励制度": ("考核", "奖励", "奖惩", "绩效"),
    "sop": ("流程", "标准化", "规范", "手册"),
    "分层": ("分群", "分级", "分类", "区别对待", "差异化", "区别"),
    "导流": ("引流", "加粉", "吸粉", "引到"),
    "渠道": ("入口", "途径"),
    "追踪": ("跟踪", "统计"),
    "启动": ("开始", "开干", "开搞", "上马", "起步", "入手", "着手", "开做", "上私域", "上线"),
    "前置": ("前期", "事前", "事先", "提前", "打基础", "地基"),
    "前置工作": ("准备工作", "前期工作", "基础工作"),
    "动作": ("步骤", "事情", "几件事", "事项"),
    "完成": ("做完", "搞完", "做好"),
    "复购": ("回购", "再次购买", "回头客", "复购率"),
    "节奏规划": ("排期", "发布计划"),
    "投入": ("精力", "人力", "花钱", "花时间"),
    "同样": ("一样", "一视同仁", "平均", "均等"),
    "均摊": ("一视同仁", "平均分配", "雨露均沾"),
    "能力": ("不会", "没人会", "不懂", "会做", "本事", "水平"),
    "条件": ("适合", "适不适合", "合适", "够格", "资格"),
    "准备好": ("就绪", "准备就绪", "适合", "适不适合"),
    # how it goes
    "失败": ("栽跟头", "翻车", "做不起来", "做不成", "做砸", "搞砸", "凉了", "黄了", "失利", "白忙", "没做成",
             "不成功"),
    "成功": ("做成", "能成", "做起来", "跑通", "成事"),
    "代价": ("后果", "损失", "坏处", "风险", "苦果", "下场"),
    "忽视": ("跳过", "省略", "不做", "忽略", "无视", "不管", "省掉"),
    "场景": ("情况", "情形", "场合"),
    "活跃度": ("没人说话", "不说话", "冷清", "没动静", "不活跃", "死群", "没人理", "冷场"),
    "沉默": ("没人说话", "不说话", "没人理", "冷场"),
    "上涨": ("越来越多", "变多", "增加", "增长"),
    "留存": ("留不住", "流失", "掉粉", "跑了"),
    "退群": ("退了", "退出", "退掉"),
    "复制": ("跟风", "模仿", "照搬", "照抄", "跟着"),
    "复用": ("复制", "照搬", "推广到", "铺开"),
    "一阵风": ("跟风", "一窝蜂", "赶时髦"),
    "价值": ("值得", "值不值", "有必要", "划得来"),
    "扫码": ("二维码", "扫一扫"),
    "放弃": ("撤", "撤退", "撤掉", "不干了", "收手", "停掉", "砍掉"),
    "试一试": ("试试", "先试", "试水", "试一下", "尝试"),
    "短期": ("几个月", "三个月", "半年", "短期内", "一阵子", "季度", "下季度", "月底", "年底"),
    "焦虑": ("心急", "着急", "急于求成", "急躁"),
    "慢": ("慢慢", "耐心", "不急", "稳扎稳打"),
    "立竿见影": ("马上见效", "立刻见效", "见效快", "速成", "马上", "立刻", "立即", "见效", "快速", "出成绩", "见成效"),
    "速效药": ("见效", "马上见效", "立刻见效", "见效快", "速成", "特效药"),
    "万能药": ("灵丹妙药", "包治百病", "万灵药", "万金油"),
    # the article's other concepts, section by section
    "定位": ("定位不清", "没定位", "方向不明"),
    "空心": ("内容空洞", "没内容", "内容单薄"),
    "机制": ("制度", "规则"),
    "价格战": ("打价格战", "拼价格", "低价竞争", "内卷"),
    "同质化": ("千篇一律", "雷同", "没特色", "没差异"),
    "roi": ("投入产出", "回报", "回本", "收益"),
    "顶层设计": ("整体规划", "长远规划", "全盘规划", "全局"),
    "战略": ("整体规划", "长远规划", "全盘规划", "全局", "长远"),
    "广告": ("打广告", "硬广", "刷屏", "推销"),
    "轰炸": ("刷屏", "骚扰", "狂发"),
    "硬推": ("强推", "推销", "硬广"),
    "业绩": ("冲业绩", "冲销量", "销售额", "营业额", "成绩"),
    "口碑": ("名声", "品牌形象", "形象", "声誉"),
    "信任": ("反感", "厌烦", "不信任", "信任感"),
    "烧钱": ("白花钱", "浪费钱", "打水漂", "花冤枉钱"),
    "机械执行": ("走过场", "应付", "机械"),
    "护城河": ("壁垒", "竞争力", "核心竞争力"),
    "忠诚度": ("粘性", "黏性", "忠诚"),
    "边界": ("预算", "资源有限", "能投多少"),
    "拉新": ("新客", "获客", "引新", "新用户"),
    "ltv": ("生命周期价值", "终身价值"),
    "需求痛点": ("需求", "痛点", "想要什么"),
    "购买频次": ("购买频率", "消费频次", "消费习惯"),
    "精准": ("精准推送", "个性化", "千人千面", "定制"),
    "一刀切": ("一样的内容", "同样的内容", "统一发"),
    "内容规划": ("选题", "内容计划", "内容日历", "发什么"),
    "推送频率": ("多久发一次", "频次", "频率", "发多少"),
    "随机发内容": ("想到啥发啥", "随便发", "乱发", "没计划"),
    "迭代": ("更新", "改进", "调整"),
    "自有渠道": ("小程序", "app", "官网", "网站"),
    "线下渠道": ("线下", "店里", "实体店"),
    "优惠券": ("红包", "优惠", "折扣", "赠品", "满减"),
    "来源": ("从哪来", "哪个渠道"),
    "复盘": ("总结经验", "回顾"),
    "盲目": ("拍脑袋", "凭感觉", "瞎做", "乱做", "没章法", "瞎搞"),
    "真相": ("根源", "根本原因", "本质原因"),
    "成果": ("报告", "产出物"),
    "推送": ("推消息", "群发"),
    "监控": ("看数据", "盯数据", "报表"),
    "促活": ("激活", "唤醒", "活跃起来"),
    "起点": ("第一步", "从哪开始", "最开始", "起步"),
    "电话回访": ("回访", "打电话", "电话"),
    "历史购买数据": ("消费记录", "购买记录", "订单数据"),
    "在意": ("关心", "看重", "在乎"),
    "高价值用户": ("大客户", "vip", "核心客户", "重要客户", "优质客户"),
    "普通用户": ("小客户", "一般客户", "普通客户"),
    "潜力用户": ("潜在客户", "有潜力"),
    "案例": ("别人怎么做", "参考", "借鉴"),
    "打法": ("套路", "玩法", "做法"),
    "弯路": ("踩坑", "走错路"),
    "落地": ("用起来", "用上", "落到实处", "应用"),
    "入局": ("进场", "入场", "开始做"),
    "用户基础": ("客户基础", "粉丝基础", "基数"),
    "跟进": ("跟单", "回复", "维护"),
    "资金": ("钱", "经费", "费用"),
    "奖励机制": ("奖励", "激励", "奖品"),
    "冷启动": ("起步难", "没起色", "刚开始难"),
    "销量": ("卖货", "成交", "出单"),
    "长期": ("坚持", "持续", "长期主义"),
    "马拉松": ("长跑",),
    # the text itself
    "结语": ("结论", "结尾", "收尾"),
    "总结": ("结论", "归纳", "概括", "小结", "要点", "总的来说"),
    # shares said in words
    **{f"{n * 10}%": (f"{w}成", f"百分之{t}") for n, w, t in (
        (1, "一", "十"), (2, "两", "二十"), (3, "三", "三十"), (4, "四", "四十"), (5, "五", "五十"),
        (6, "六", "六十"), (7, "七", "七十"), (8, "八", "八十"), (9, "九", "九十"))},
}


def _invert(groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for term, words in groups.items():
        for word in words:
            out.setdefault(normalise(word), []).append(normalise(term))
    return {w: tuple(dict.fromkeys(t for t in terms if t != w)) for w, terms in out.items()}


_STOPWORD_TEXT = (
    "的 了 是 在 和 与 及 或 也 都 就 而 并 但 又 很 更 最 把 被 让 给 对 从 向 到 为 以 于 之 其 这 那 这些 那些 "
    "一个 一种 一些 我 我们 你 你们 他 他们 她 它 它们 自己 什么 怎么 怎么样 怎样 如何 为什么 吗 呢 吧 啊 呀 哦 嘛 "
    "么 要 会 能 可以 应该 需要 还是 还 有 没 没有 不 是否 哪些 哪个 哪 多少 几 个 些 等 等等 如果 那么 因为 所以 "
    "一下 一点 现在 今天 已经 可能 真的 比较 非常 特别 这个 那个 时候 之前 之后 里 中 上 下 做 说 想 看 问 请问 "
    "请 帮 帮忙 知道 觉得 怎么办 该 得 着 过 呗 啦 嗯 好 好的 谢谢 您 "
    "不是 是不是 那种 这种 一般 就是 这样 那样 回事 怎么回事 啥 咋 为啥 事儿 这事 感觉 好像 根本 到底 说到底 "
    "大家 其他 以后 再说 能不能 要不要 有没有 不能 不要 不会 来 去 先 才 只 又 呢 挺 特 太 多 少 "
    "或者 大多 多数 大多数 一句 一句话 话 就要 具体 必要 意思 一次 几次 东西 那么 这么 其实 总共 怎样 会怎样 "
    "有啥 啥用 有啥用 对吗 对不对 行不行 好不好 算不算 多大 一直 总是 到底是 "
    "the a an of to and or is are what how"
)
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# A character bigram made only of these characters says nothing about the topic.
_BIGRAM_STOP_CHARS = frozenset("的了是在和与及或也都就而并但又很更最把被让给对从向到为以于之其这那我你他她它们么吗呢吧啊呀个些有没不要会能")
_CJK_RUN_RE = re.compile(r"[\u3400-\u9fff]+")
_TOKEN_CLEAN_RE = re.compile(r"^[\W_]+$")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width) and lower case, so 'ＫＰＩ', 'KPI' and 'kpi' are one word."""
    return unicodedata.normalize("NFKC", text).lower()


SYNONYMS: dict[str, tuple[str, ...]] = _invert(SYNONYM_GROUPS)
SYNONYMS_TARGETS: tuple[str, ...] = tuple(sorted({t for terms in SYNONYMS.values() for t in terms}))


class ChineseTokenizer:
    """jieba with the domain dictionary; thread-safe lazy initialisation (loading jieba takes ~1 s)."""

    def __init__(self, *, extra_words: Sequence[str] = ()) -> None:
        self._extra = tuple(extra_words)
        self._jieba: object | None = None
        self._background: dict[str, int] = {}  # general-Chinese frequency of the words added to the dictionary
        self._freq: dict[str, int] = {}
        self._total = 1
        self._lock = threading.Lock()

    def _tokenizer(self):  # type: ignore[no-untyped-def]
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    tk = jieba.Tokenizer()
                    tk.initialize()
                    self._total = int(tk.total)
                    words = [normalise(w) for w in (*DOMAIN_WORDS, *SYNONYMS, *SYNONYMS_TARGETS, *self._extra)]
                    # Remember the general-Chinese frequency before the domain dictionary overrides it.
                    freq = tk.FREQ
                    self._background = {w: int(freq.get(w) or 0) for w in words}
                    self._freq = freq
                    for word in words:
                        tk.add_word(word, freq=200_000)
                    self._jieba = tk
        return self._jieba

    def warm_up(self) -> None:
        """Loads the dictionary now rather than on the first query."""
        self._tokenizer()

    def _cut(self, text: str) -> list[str]:
        return self._tokenizer().lcut_for_search(normalise(text))  # type: ignore[attr-defined,no-any-return]

    def words(self, text: str) -> list[str]:
        """jieba's fine-grained cut without stopwords and punctuation."""
        out = []
        for token in self._cut(text):
            token = token.strip()
            if token and token not in STOPWORDS and not _TOKEN_CLEAN_RE.match(token):
                out.append(token)
        return out

    def query_words(self, text: str) -> list[tuple[str, tuple[str, ...]]]:
        """Each query word with the article's terms it also stands for."""
        return [(w, SYNONYMS.get(w, ())) for w in self.words(text)]

    def tokens(self, text: str, *, query: bool = False) -> list[str]:
        """Search words; on the query side each everyday word is followed by the article's terms for it."""
        if not query:
            return self.words(text)
        out: list[str] = []
        for word, terms in self.query_words(text):
            out.append(word)
            out.extend(terms)
        return out

    @staticmethod
    def bigrams(text: str) -> list[str]:
        """Overlapping CJK character bigrams (single-character runs kept whole), skipping all-function-word pairs."""
        out: list[str] = []
        for run in _CJK_RUN_RE.findall(normalise(text)):
            if len(run) == 1:
                if run not in _BIGRAM_STOP_CHARS:
                    out.append(run)
                continue
            for i in range(len(run) - 1):
                pair = run[i : i + 2]
                if not (pair[0] in _BIGRAM_STOP_CHARS and pair[1] in _BIGRAM_STOP_CHARS):
                    out.append(pair)
        return out

    def background_idf(self, word: str) -> float:
        """How rare a word is in general Chinese (jieba's dictionary); words it does not know are the rarest."""
        self._tokenizer()
        freq = self._background.get(word)
        if freq is None:
            freq = int(self._freq.get(word) or 0)
        return math.log(self._total / (freq + 1))



class BM25Index:
    """Okapi BM25 over pre-tokenised texts as one sparse matrix: a query is a weighted sum of its words' columns.

    A query word repeated (or added again as a synonym's target) counts with its multiplicity.
    """

    def __init__(self, token_lists: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.5) -> None:
        from scipy import sparse

        self.size = len(token_lists)
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(self.size, dtype=np.float64)
        for i, tokens in enumerate(token_lists):
            tf: dict[str, int] = {}
            for token in tokens:
                tf[token] = tf.get(token, 0) + 1
            lengths[i] = len(tokens)
            for token, n in tf.items():
                rows.append(i)
                cols.append(vocab.setdefault(token, len(vocab)))
                counts.append(n)
        self.vocab = vocab
        n_docs = max(self.size, 1)
        tf_arr = np.asarray(counts, dtype=np.float64)
        row_arr = np.asarray(rows, dtype=np.int64)
        col_arr = np.asarray(cols, dtype=np.int64)
        self.df = np.bincount(col_arr, minlength=len(vocab)) if counts else np.zeros(0, dtype=np.int64)
        self._idf = np.log(1 + (n_docs - self.df + 0.5) / (self.df + 0.5))
        avg = max(float(lengths.mean()) if self.size else 0.0, 1.0)
        weight = tf_arr * (k1 + 1) / (tf_arr + k1 * (1 - b + b * lengths[row_arr] / avg)) * self._idf[col_arr]
        self._matrix = sparse.csc_matrix((weight, (row_arr, col_arr)), shape=(self.size, len(vocab)))
        # A word no text contains weighs as much as the rarest word.
        self._unknown_idf = float(np.log(1 + (n_docs + 0.5) / 0.5))

    def __contains__(self, token: object) -> bool:
        return token in self.vocab

    def idf(self, token: str) -> float:
        """Inverse document frequency (the unknown-word weight for words no text contains)."""
        j = self.vocab.get(token)
        return self._unknown_idf if j is None else float(self._idf[j])

    def scores(self, query_tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every text for the query."""
        weights: dict[int, float] = {}
        for token in query_tokens:
            j = self.vocab.get(token)
            if j is not None:
                weights[j] = weights.get(j, 0.0) + 1.0
        if not weights:
            return np.zeros(self.size, dtype=np.float64)
        cols = np.fromiter(weights, dtype=np.int64)
        return np.asarray(self._matrix[:, cols] @ np.fromiter(weights.values(), dtype=np.float64)).ravel()
