"""summarize.homophones: a recognition error that sounds like a written domain word is put back only when the
heard form is no word, is unseen in the written messages, and the word is seen with its neighbours."""

import zlib

import numpy as np
import pytest

from pipeline.base.segmenter import shared_segmenter
from summarize.homophones import SEEN_BITS, Homophones, build_homophones, correct_homophones, load_homophones, sound

WRITTEN = ["小孩能报名读小学吗，要交的押金太贵。"] * 60  # a tiny "written corpus"


@pytest.fixture(scope="module")
def lexicon():
    return build_homophones(WRITTEN, min_count=50)


def _cuts(text):
    cuts, pos = [0], 0
    for word in shared_segmenter().cut(text):
        pos += len(word)
        cuts.append(pos)
    return cuts


def test_homophones_lexicon_holds_frequent_words_by_sound(lexicon):
    assert lexicon.words[(2, sound("报名"))] == "报名" and lexicon.words[(2, sound("押金"))] == "押金"
    assert lexicon.seen("报名读") and lexicon.seen("押金") and not lexicon.seen("抱名")
    assert sound("抱名") == sound("报名") == "bao ming"


@pytest.mark.parametrize(
    "text,fixed",
    [
        ("小孩能不能抱名读小学", "小孩能不能报名读小学"),  # 能报名 and 报名读 are written: sure
        ("要交的压金太贵", "要交的押金太贵"),
    ],
)
def test_homophones_sure_errors_are_fixed(lexicon, text, fixed):
    out, fixes = correct_homophones(text, _cuts(text), lexicon=lexicon)
    assert out == fixed and len(out) == len(text) and fixes


@pytest.mark.parametrize(
    "text,protected,why",
    [
        ("抱名", [], "no neighbour to check the word against"),
        ("他抱名了", [], "他报名 is never written"),
        ("能抱名读小学", [(1, 3)], "inside a place"),
    ],
)
def test_homophones_unsure_changes_nothing(lexicon, text, protected, why):
    out, fixes = correct_homophones(text, _cuts(text), protected, lexicon=lexicon)
    assert out == text and fixes == (), why


def test_homophones_a_heard_form_seen_in_writing_stays(lexicon):
    seen = Homophones(lexicon.words, lexicon.bits.copy())
    b = zlib.crc32("抱名".encode("utf-8")) % SEEN_BITS
    seen.bits[b >> 3] |= 1 << (b & 7)
    text = "小孩能不能抱名读小学"
    assert correct_homophones(text, _cuts(text), lexicon=seen) == (text, ())


def test_homophones_shipped_lexicon_fixes_what_the_written_messages_know():
    lex = load_homophones()
    assert lex.bits.shape == (SEEN_BITS // 8,) and lex.bits.dtype == np.uint8 and len(lex.words) > 3000
    text = "有预收的购房合同，那这种情况的话，小孩能不能抱名读小学啊"
    out, fixes = correct_homophones(text, _cuts(text))
    assert "报名" in out and {(f.heard, f.term) for f in fixes} >= {("抱名", "报名")}
    plain = "我们小区门口的路灯坏了好几天了"
    assert correct_homophones(plain, _cuts(plain)) == (plain, ())  # correct speech stays as said


def test_homophones_numbers_are_never_made():
    lex = build_homophones(["一个人去了一个地方"] * 60, min_count=50)
    assert not any(ch in "一二三" for w in lex.words.values() for ch in w)
