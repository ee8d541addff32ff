"""From what a caller said to what an operator writes: fillers out, sure recognition errors fixed, numbers in digits.

Three pure steps on the caller's words, used by ``summarize.structured.v1``:

* `keep_tokens`: the words of a clause without fillers (喂, 那个, 就是, 啊 …), hedges and pronouns (我们, 特别, 一下 …);
  places always stay; `REGISTER` then writes a few spoken words as a work order does (没有 → 无, 跟 → 与, 到现在 → 至今,
  什么时候 → 何时, 能不能 → 能否). The learned selector adds the words citizens' titles almost never keep.
* `correct_terms`: a recognition error in an ordinary word is replaced only when the domain vocabulary makes it
  sure: the heard form is one listed for a domain term (`CONFUSIONS`, e.g. 几水 → 积水), it is whole words of the
  segmentation (not a piece of a longer word: 这几水管 is 这/几/水管 and stays), and it is not inside a place the
  location stage found. Everything else keeps the caller's words.
* `digits`: numbers said in Chinese become digits where an operator writes digits (九栋八零二 → 9栋802,
  七十米 → 70米), never in set phrases (一下, 一直, 万一 …), and never a number the masking hid.

None of them adds a character the caller did not say, except the digits of a number they said and the domain
term of a sure correction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import AbstractSet, Iterable, Mapping, Sequence

from pipeline.base.numerals import cn_to_int

logger = logging.getLogger(__name__)

__all__ = ["CONFUSIONS", "Correction", "FILLER_WORDS", "REGISTER", "correct_terms", "digits", "keep_tokens", "written"]

# words an operator never writes: fillers, greetings, hedges, intensifiers, the caller's own pronouns
FILLER_WORDS = frozenset(
    """
    喂 你好 您好 领导 啊 呀 嘛 吧 呢 哦 噢 嗯 呃 哎 唉 哈 啦 咯 嘞 哇 呐 那个 这个 就是 就是说 然后 其实 反正 真的 一下
    的话 了 的 我 我们 咱们 咱 俺 你们 您 你 那边 这边 那里 这里 那块 这块 根本 特别 非常 很 太 好 都 就 又 得很
    要命 得 比如 比如说 首先 另外 还有 还有就是 我想 我要 我觉得 觉得 感觉 所以 可是 实在 简直 确实 到底 究竟 反正
    一下子 什么的 之类 之类的 嘛 呗 哟 喽 吗 么 这么 那么 这样 那样 这种 那种
    是 也 还 给 说 想 着 事 好多 他们 里面 搞
    """.split()
)
# a spoken word -> the word a work order uses for it (same meaning, written register)
REGISTER: Mapping[str, str] = MappingProxyType({
    "跟": "与", "没有": "无", "没人": "无人", "到现在": "至今", "到目前": "至今",
    "什么时候": "何时", "能不能": "能否", "是不是": "是否", "为什么": "为何", "有没有": "是否有", "多长时间": "多久",
})


def written(words: Sequence[str]) -> list[str]:
    """`words` with `REGISTER` applied, to one word or two in a row (到 现在 → 至今)."""
    out, k = [], 0
    while k < len(words):
        pair = words[k] + words[k + 1] if k + 1 < len(words) else None
        if pair is not None and pair in REGISTER:
            out.append(REGISTER[pair])
            k += 2
            continue
        out.append(REGISTER.get(words[k], words[k]))
        k += 1
    return out
_HAN = re.compile(r"[\u4e00-\u9fff]")


def keep_tokens(
    tokens: Sequence[tuple[str, int, int]], protected: Iterable[tuple[int, int]] = (), drop: AbstractSet[str] = frozenset()
) -> list[tuple[str, int, int]]:
    """The (word, start, end) tokens an operator would keep: fillers dropped unless they lie inside a protected
    span (a place), and punctuation and spaces dropped. Words in `drop` (those citizens' own titles almost never
    keep, `summarize.selector.Selector.dropped`) go too, unless protected or holding a digit, a Latin letter, a
    numeral or a negation (没, 不, 未 … never go: dropping one would say the opposite)."""
    spans = tuple(protected)
    out, inside = [], []
    for word, start, end in tokens:
        held = any(a <= start and end <= b for a, b in spans)
        if not held and (word in FILLER_WORDS or not word.strip() or not (_HAN.search(word) or any(ch.isalnum() or ch == "*" for ch in word))):
            continue
        out.append((word, start, end))
        inside.append(held)
    if not drop:
        return out

    def droppable(k: int) -> bool:
        word = out[k][0]
        if word not in drop or word in REGISTER or _KEEP_ALWAYS.search(word) or inside[k]:
            return False
        before = out[k - 1][0] + word if k else ""
        after = word + out[k + 1][0] if k + 1 < len(out) else ""
        return before not in REGISTER and after not in REGISTER  # 到 现在 → 至今: the pair is written, not dropped

    return [tok for k, tok in enumerate(out) if not droppable(k)]


# never dropped: digits, Latin letters, masked digits, Chinese numbers (一 only before a unit or 个: 一直 may go,
# 一年, 一个 (星期) and 一百 stay) and negations
_KEEP_ALWAYS = re.compile(r"[0-9A-Za-z*零〇二两三四五六七八九十百千万不没无未非别勿禁莫否]|一[个年月天日周次回段百千万块元岁栋楼层号户人]")


@dataclass(frozen=True, slots=True)
class Correction:
    """`heard` was replaced by the domain term `term` at characters start..end of the clause text."""

    heard: str
    term: str
    start: int
    end: int


# domain term -> forms a recogniser writes for it that are not words of their own (homophones and near-homophones).
# Written from the hotline domain, not from any evaluation set; a heard form must not be a word in its own right.
CONFUSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "积水": ("几水", "机水", "鸡水"),
    "噪音": ("早音", "造音", "躁音"),
    "噪声": ("燥声", "躁声", "早声"),
    "扰民": ("绕民", "饶民"),
    "路灯": ("露灯", "鹿灯", "录灯"),
    "窨井盖": ("阴井盖", "音井盖", "印井盖"),
    "下水道": ("下水到",),
    "违建": ("违见", "围建"),
    "违章": ("违张", "围章"),
    "业主": ("叶主",),
    "油烟": ("游烟",),
    "占道": ("站道", "战道"),
    "垃圾": ("拉机",),
    "停车位": ("停车为",),
    "欠薪": ("欠新",),
    "工资": ("工次",),
    "社保": ("设保", "社宝"),
    "医保": ("医宝",),
    "公积金": ("公机金", "工积金"),
    "居住证": ("居住正", "居注证"),
    "装修": ("装休",),
    "燃气": ("然气", "燃器"),
    "隐患": ("引患", "应患"),
    "施工": ("师工",),
    "整改": ("正改",),
    "投诉": ("头诉",),
    "红绿灯": ("红路灯",),
    "人行道": ("人行到",),
    "楼道": ("楼到",),
    "电梯": ("电提",),
    "物业费": ("无业费", "物业肺"),
    "退费": ("推费",),
    "押金": ("鸭金",),
    "维修": ("维休",),
    "渗水": ("审水",),
    "供暖": ("共暖",),
    "污水": ("乌水",),
})
_HEARD = {heard: term for term, forms in CONFUSIONS.items() for heard in forms}
_HEARD_RE = re.compile("|".join(sorted(map(re.escape, _HEARD), key=len, reverse=True)))


def correct_terms(
    text: str, boundaries: Iterable[int], protected: Iterable[tuple[int, int]] = ()
) -> tuple[str, tuple[Correction, ...]]:
    """`text` with the sure recognition errors replaced by their domain terms (see the module docstring).

    Args:
        text: a clause as said.
        boundaries: the word boundaries of its segmentation (character offsets in `text`); a heard form is replaced
            only when it starts and ends on one.
        protected: spans never changed (places).

    Returns:
        The corrected text (same length: every term has its heard form's length) and what was replaced.
    """
    cuts = set(boundaries)
    spans = tuple(protected)
    out, fixes = list(text), []
    for m in _HEARD_RE.finditer(text):
        a, b = m.span()
        term = _HEARD[m.group()]
        if a not in cuts or b not in cuts or len(term) != b - a:
            continue  # a piece of a longer word: 这几水管 is 这/几/水管
        if any(a < pe and ps < b for ps, pe in spans):
            continue
        out[a:b] = term
        fixes.append(Correction(m.group(), term, a, b))
    return "".join(out), tuple(fixes)


_NUM = "零〇一二两三四五六七八九十百千万幺"
_UNIT_AFTER = (
    "栋|号|楼|层|室|单元|期|组|元|块|万|岁|年|月|日|天|个月|公里|米|平|亩|公顷|户|多|余|次|人|辆|所|家|条|分钟|小时|"
    "公斤|斤|吨|套|间|趟|路|路公交|站|周|倍|分|度|个|项|名|位"
)
_NUMBER_RUN = re.compile(rf"(?<![{_NUM}*])([{_NUM}]+)(?![{_NUM}*])(?=({_UNIT_AFTER})?)")
_SINGLE_UNITS = frozenset("栋 号 楼 层 室 单元 期 组 元 块 万 岁 月 日 点 路".split())
# set phrases that hold a numeral but are no number
_SET_PHRASES = re.compile(
    r"一下|一直|一样|一起|一些|一般|一定|一点|一边|一旦|一切|一再|一向|一律|一致|一块|一阵|一面|一同|一并|一共|"
    r"万一|统一|唯一|十分|一天到晚|一年到头|一天天|三番五次|一一|千万|百万分|一心|一口|一把|一次性|一会|一时|一度|一半|"
    r"一楼到|第一|一方面|不一|一模|一头|一身|一连|一概|一手|九九|二手|三天两头|两边|两头|一看|一问|一说|一拖|一晃|"
    r"一来|一去|一走|一开|一过|一到|一堆|一大|一帮|一伙|一家人|一辈子|百姓|千方百计|万分|几千|几百|几十|几万"
)


def digits(text: str) -> str:
    """Numbers said in Chinese as digits where an operator writes digits (see the module docstring).

    A run of two or more numeral characters that `cn_to_int` reads (九十 → 90, 八零二 → 802, 两千四 → 2400), or
    one numeral before a unit of address, date or money (九栋 → 9栋, 五月 → 5月; 一个 and 三年 stay); a run ending in 万 keeps it (十八万 → 18万) and
    one with 万 inside is left as said (十八万五). Set phrases (一下, 万一 …) and numbers touching a masked digit
    (*) are left alone.
    """
    blocked = [False] * len(text)
    for m in _SET_PHRASES.finditer(text):
        for k in range(m.start(), m.end()):
            blocked[k] = True
    out, pos = [], 0
    for m in _NUMBER_RUN.finditer(text):
        a, b = m.span(1)
        run = m.group(1)
        if any(blocked[a:b]):
            continue
        unit = m.group(2)
        if len(run) == 1 and (unit not in _SINGLE_UNITS or run in "十百千万"):
            continue  # 一个, 三年前: a lone numeral stays a word, except in addresses, dates and money (9栋, 5月, 8万)
        head, tail = (run[:-1], "万") if run.endswith("万") and len(run) > 1 else (run, "")
        if "万" in head:
            continue
        value = cn_to_int(head)
        if value is None:
            continue
        if head[0] in "零〇" and not all(ch in "零〇一二三四五六七八九幺" for ch in head):
            continue
        written = str(value)
        if all(ch in "零〇一二三四五六七八九幺两" for ch in head) and len(head) > 1:
            written = "".join(str(cn_to_int(ch)) for ch in head)  # digit by digit keeps leading zeros: 零二 → 02
        out.append(text[pos:a])
        out.append(written + tail)
        pos = b
    out.append(text[pos:])
    return "".join(out)
