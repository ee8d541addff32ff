"""Chinese output hygiene, one function both the batch and the streaming paths call.

`clean_text` turns raw Whisper text into what an operator should read:
1. Simplified characters only (OpenCC t2s; Whisper often answers Mandarin in Traditional);
2. Chinese (full-width) punctuation, spaces between Chinese phrases turned into commas, a closing "。";
3. known hallucinations on silence/music dropped (subtitle credits, "please subscribe", (音乐) …);
4. repetition loops cut (a phrase repeated many times in a row is kept twice).
An empty result means the segment holds no speech and is dropped.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from pipeline.base.text import to_simplified

logger = logging.getLogger(__name__)

__all__ = ["clean_text", "clean_word", "is_hallucination", "to_simplified", "traditional_chars", "cut_repetitions"]

# Phrases Whisper emits on silence, music or noise (learned from subtitle credits in its training data).
# Matched after Simplified conversion and with punctuation/spaces removed; a segment that is nothing but
# these (and punctuation) is dropped, and these phrases are removed from longer segments.
HALLUCINATIONS = (
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发打赏支持",
    "明镜与点点栏目",
    "点赞订阅转发打赏",
    "请订阅我的频道",
    "欢迎订阅我的频道",
    "感谢观看",
    "谢谢观看",
    "谢谢大家观看",
    "谢谢收看",
    "字幕志愿者",
    "中文字幕志愿者",
    "字幕by索兰娅",
    "字幕制作",
    "优优独播剧场",
    "YoYoTelevisionSeriesExclusive",
    "本期视频就到这里",
    "我们下期再见",
)
# Bracketed sound tags: (音乐) [音乐] 【掌声】 （笑声） ♪ …
_TAG_RE = re.compile(r"[\(（\[【〔][^\)）\]】〕]{0,12}[\)）\]】〕]|[♪♫♬🎵🎶]+")

_ASCII_TO_CJK = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", "(": "（", ")": "）"}
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_ASCII_PUNCT_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s*([,?!:;])\s*|\s*([,?!:;])\s*(?=[{_CJK}])")
_PERIOD_AFTER_CJK = re.compile(rf"(?<=[{_CJK}])\s*\.(?!\d)")
_ENDS_CJK = re.compile(rf"[{_CJK}]$")
_MULTI_PUNCT = re.compile(r"([，。？！；：、])[，。？！；：、\s]+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_REPEAT = re.compile(r"(.{1,15}?)\1{3,}", re.DOTALL)
# A whole phrase of 6+ characters said twice or more in a row, optionally with punctuation between
# ("那种奋不顾身的勇气。那种奋不顾身的勇气。"): Whisper's loop on short utterances.
_REPEAT_PHRASE = re.compile(r"([^，。？！；：、\s]{6,}?)([，。？！；：、\s]?)(?:\1[，。？！；：、\s]?)+")


def traditional_chars(text: str) -> int:
    """How many characters of `text` change under Traditional→Simplified conversion."""
    return sum(1 for ch in text if "\u3400" <= ch <= "\U0002ffff" and to_simplified(ch) != ch)


def _squash(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text)).lower()


_SQUASHED = tuple(sorted({_squash(h) for h in HALLUCINATIONS}, key=len, reverse=True))


def is_hallucination(text: str) -> bool:
    """True when `text` is nothing but known hallucination phrases, sound tags and punctuation."""
    rest = _squash(_TAG_RE.sub("", to_simplified(text)))
    for phrase in _SQUASHED:
        rest = rest.replace(phrase, "")
    return rest == ""


def cut_repetitions(text: str, keep: int = 2) -> str:
    """Cut repetition loops: a unit of 1–15 characters repeated 4+ times in a row is kept `keep` times
    ("好的好的好的好的好的" → "好的好的"); a phrase of 6+ characters repeated back to back is kept once."""
    text = _REPEAT.sub(lambda m: m.group(1) * keep, text)
    return _REPEAT_PHRASE.sub(lambda m: m.group(1) + m.group(2), text)


def _remove_hallucinated_phrases(text: str) -> str:
    text = _TAG_RE.sub("", text)
    for phrase in HALLUCINATIONS:
        if phrase in text:
            text = text.replace(phrase, "")
    return text


def _punctuate(text: str) -> str:
    text = _ASCII_PUNCT_NEAR_CJK.sub(lambda m: _ASCII_TO_CJK[m.group(1) or m.group(2)], text)
    text = _PERIOD_AFTER_CJK.sub("。", text)
    text = _CJK_SPACE_CJK.sub("，", text)
    text = _MULTI_PUNCT.sub(r"\1", text)
    return text.strip(" ，、")


def clean_text(text: str, final: bool = True) -> str:
    """Raw Whisper segment text → Simplified, Chinese-punctuated text; "" when the segment is not speech.

    Args:
        text: one segment's raw text.
        final: the segment is complete, so a sentence ending in a Chinese character gets a closing "。"
            (streaming passes False for text that may still continue).
    """
    text = to_simplified(unicodedata.normalize("NFC", text)).strip()
    if not text or is_hallucination(text):
        return ""
    text = _remove_hallucinated_phrases(text)
    text = cut_repetitions(text)
    text = _punctuate(text)
    if not _squash(text):
        return ""
    if final and _ENDS_CJK.search(text):
        text += "。"
    return text


def clean_word(word: str) -> str:
    """One streamed word: Simplified, Chinese punctuation, no surrounding spaces; "" for sound tags."""
    word = to_simplified(unicodedata.normalize("NFC", word)).strip()
    if _TAG_RE.fullmatch(word):
        return ""
    if not word:
        return ""
    if word.endswith(".") and not word[:-1][-1:].isdigit():
        word = word[:-1] + "。"
    return "".join(_ASCII_TO_CJK.get(ch, ch) for ch in word)
