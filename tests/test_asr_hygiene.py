import pytest

from asr.hygiene import clean_text, cut_repetitions, is_hallucination, to_simplified, traditional_chars


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("這個問題後來發現", "这个问题后来发现。"),
        ("這個問題 後來發現,我們要投訴", "这个问题，后来发现，我们要投诉。"),
        ("你好.我想問一下 3.5元怎麼算?", "你好。我想问一下 3.5元怎么算？"),
        ("我家樓下的路燈壞了 (音乐)", "我家楼下的路灯坏了。"),
        ("好的好的好的好的好的好的", "好的好的。"),
        ("那种奋不顾身的勇气。那种奋不顾身的勇气。", "那种奋不顾身的勇气。"),
        ("浦东新区张杨路500号", "浦东新区张杨路500号。"),
        ("浦东新区张杨路500", "浦东新区张杨路500"),
        ("Hello world", "Hello world"),
        ("喂，你好！", "喂，你好！"),
    ],
)
def test_hygiene_clean_text(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "字幕由Amara.org社群提供",
        "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",
        "(音乐)",
        "【掌声】",
        "謝謝觀看!",
        "♪♪",
        "   ",
        "。，",
    ],
)
def test_hygiene_drops_hallucinations(raw):
    assert clean_text(raw) == ""


@pytest.mark.parametrize("text,expected", [("谢谢观看", True), ("谢谢你帮我看一下", False), ("（音乐）字幕由Amara.org社区提供", True)])
def test_hygiene_is_hallucination(text, expected):
    assert is_hallucination(text) is expected


@pytest.mark.parametrize("text,expected", [("哈哈哈哈哈哈", "哈哈"), ("我说我说", "我说我说"), ("对对对对对对对对", "对对")])
def test_hygiene_cut_repetitions(text, expected):
    assert cut_repetitions(text) == expected


@pytest.mark.parametrize("text,count", [("這個問題", 4), ("这个问题", 0), ("abc123", 0)])
def test_hygiene_traditional_chars(text, count):
    assert traditional_chars(text) == count
    assert traditional_chars(to_simplified(text)) == 0


@pytest.mark.parametrize("text,expected", [("我想问一下", "我想问一下"), ("好的，", "好的")])
def test_hygiene_not_final_adds_no_full_stop(text, expected):
    assert clean_text(text, final=False) == expected
