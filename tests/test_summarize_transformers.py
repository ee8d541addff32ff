"""summarize.transformers.v1: answer parsing, options, a missing model or library, and tiny random models built at
test time (a 2-layer GPT-2 and T5 with a character-level Chinese tokenizer) run through the real loading code."""

from __future__ import annotations

import importlib.util
import logging
import re
import sys

import pytest

import summarize
from pipeline.base.config import DEFAULT_STAGES, TicketOptions
from pipeline.base.errors import ModelError
from pipeline.base.registry import Registry
from pipeline.ticket import TicketBuilder, text_transcript
from pipeline.base.types import TextDoc, TicketField, Transcript
from summarize.transformers_backend import DEFAULT_PROMPT, INSTALL_HINT, Generator, parse_summary

NAME = "summarize.transformers.v1"
CALL = "你好，我住在浦东新区张杨路500号，小区门口路灯坏了一个星期了，希望尽快派人来修。我电话13812345678。"
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
_LONG_DIGITS = re.compile(r"[0-9零〇洞幺一二两三四五六七八九]{7,}")


def _doc(text: str) -> TextDoc:
    transcript = text_transcript(text)
    return TextDoc(transcript, tuple(() for _ in transcript.segments))


def _registry() -> Registry:
    registry = Registry()
    summarize.register(registry)
    return registry


def _assert_ticket_shape(value: str, max_chars: int = 120) -> None:
    assert value.startswith("来电人反映：") and "；诉求：" in value and value.endswith("。"), value
    assert len(value) <= max_chars
    assert not _LONG_DIGITS.search(value), value  # nothing that could be a phone or ID number


# --- parsing the model's answer (pure, no transformers needed) --------------------------------------------------


@pytest.mark.parametrize(
    "raw,summary,structured",
    [
        ("来电人反映：张杨路500号路灯坏了；诉求：尽快修复。", "来电人反映：张杨路500号路灯坏了；诉求：尽快修复。", True),
        ("摘要：来电人反映：楼上漏水；诉求：请物业处理", "来电人反映：楼上漏水；诉求：请物业处理。", True),
        ("来电人反映：楼上漏水。\n诉求：请物业处理。\n以上。", "来电人反映：楼上漏水；诉求：请物业处理。", True),
        ("好的。\n来电人反映: 楼 上 漏 水 ; 诉求: 请 物 业 处 理", "来电人反映：楼上漏水；诉求：请物业处理。", True),
        ("来电人反映：路灯坏了。", "来电人反映：路灯坏了；诉求：请相关部门核实处理。", False),
        ("路灯坏了，晚上很黑", "来电人反映：路灯坏了，晚上很黑；诉求：请相关部门核实处理。", False),
        ("来电人反映：楼上太吵，电话13812345678；诉求：回电幺三八一二三四五六七八",
         "来电人反映：楼上太吵，电话138****5678；诉求：回电幺三八****五六七八。", True),
        ("garbage 乱码 ##", "来电人反映：garbage 乱码 ##；诉求：请相关部门核实处理。", False),
    ],
)  # fmt: skip
def test_summarize_transformers_parse(raw, summary, structured):
    assert parse_summary(raw) == (summary, structured)


@pytest.mark.parametrize("raw", ["", "   \n  ", "来电人反映：；诉求：", "。。。"])
def test_summarize_transformers_parse_nothing(raw):
    assert parse_summary(raw) is None


@pytest.mark.parametrize("max_chars", [30, 60])
def test_summarize_transformers_parse_max_chars(max_chars):
    summary, _ = parse_summary("来电人反映：" + "楼下饭店油烟很大" * 30 + "；诉求：" + "希望尽快处理" * 10, max_chars)
    _assert_ticket_shape(summary, max_chars)


# --- options and errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config,error,match",
    [
        ({"model": ""}, ValueError, "model must be"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens"),
        ({"device": "gpu"}, ValueError, "device must be auto, cpu, cuda"),
        ({"prompt": "总结一下"}, ValueError, r"must contain \{transcript\}"),
        ({"prompt": "{transcript}{caller}"}, ValueError, r"unknown field \{caller\}"),
        ({"prompt": "{transcript"}, ValueError, "not a valid template"),
        ({"local_files_only": "yes"}, TypeError, "local_files_only"),
        ({"max_chars": 10}, ValueError, "max_chars"),
    ],
)
def test_summarize_transformers_bad_option(config, error, match):
    with pytest.raises(error, match=match):
        _registry().build(NAME, config)


@pytest.mark.parametrize("module", ["transformers", "torch"])
def test_summarize_transformers_missing_library(monkeypatch, tmp_path, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        _registry().build(NAME, {"model": str(tmp_path / f"no-{module}")})


@pytest.mark.parametrize("module", ["transformers"])
def test_summarize_transformers_missing_library_fallback(monkeypatch, tmp_path, caplog, module):
    monkeypatch.setitem(sys.modules, module, None)
    with caplog.at_level(logging.WARNING, logger="summarize"):
        stage = _registry().build(NAME, {"model": str(tmp_path / "fallback-lib"), "fallback_to_extractive": True})
    assert INSTALL_HINT in caplog.text
    assert stage(_doc(CALL), {}).value.startswith("来电人反映：")


needs_llm = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None,
    reason=f"transformers and torch are not installed ({INSTALL_HINT})",
)


@needs_llm
@pytest.mark.parametrize("name", ["missing-model-dir"])
def test_summarize_transformers_missing_dir(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ModelError, match=rf"no model directory at '.*{name}'.*hotline\[llm\]"):
        _registry().build(NAME, {"model": str(path)})


@needs_llm
@pytest.mark.parametrize("name", ["not-a-model"])
def test_summarize_transformers_dir_without_config(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(ModelError, match=rf"'.*{name}' is not a model directory \(it has no config.json\)"):
        _registry().build(NAME, {"model": str(tmp_path / name)})


@needs_llm
@pytest.mark.parametrize("hub_name", ["hotline-tests/no-such-model-1"])
def test_summarize_transformers_hub_name_not_cached(hub_name):
    with pytest.raises(ModelError, match=rf"cannot load model '{hub_name}' from the local Hugging Face cache.*hotline\[llm\]"):
        _registry().build(NAME, {"model": hub_name, "local_files_only": True})


@needs_llm
@pytest.mark.parametrize("name", ["missing-model-fallback"])
def test_summarize_transformers_fallback_to_extractive(tmp_path, caplog, name):
    with caplog.at_level(logging.WARNING, logger="summarize"):
        stage = _registry().build(NAME, {"model": str(tmp_path / name), "fallback_to_extractive": True})
    assert "no model directory" in caplog.text and "summarize.extractive.v1" in caplog.text
    extractive = _registry().build("summarize.extractive.v1")
    assert stage(_doc(CALL), {}) == extractive(_doc(CALL), {})


# --- tiny random models built at test time -----------------------------------------------------------------------


def _tokenizer(vocab_text: str):
    """A character-level fast tokenizer: one token per character of `vocab_text`, <unk> for the rest."""
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = sorted(set(vocab_text) | set("0123456789*\n"))
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


VOCAB_TEXT = DEFAULT_PROMPT + CALL + "来电人反映诉求：；。路灯坏了漏水楼上请尽快处理" + "零一二三四五六七八九幺"


def _save_gpt2(path, n_positions=512, chat_template=None, constant_token=None):
    """A 2-layer GPT-2 with random weights. `constant_token`: rig the final layer norm so that every position predicts
    that token (its embedding made long and the hidden state pinned to it): the model then answers it over and over."""
    import torch
    import transformers

    tokenizer = _tokenizer(VOCAB_TEXT)
    if chat_template:
        tokenizer.chat_template = chat_template
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    if constant_token is not None:
        tid = tokenizer.convert_tokens_to_ids(constant_token)
        with torch.no_grad():
            wte = model.transformer.wte.weight
            wte[tid] = torch.ones(config.n_embd) * 3.0
            model.transformer.ln_f.weight.zero_()
            model.transformer.ln_f.bias.copy_(wte[tid])
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _save_t5(path):
    """A 2-layer T5 (encoder-decoder) with random weights."""
    import torch
    import transformers

    tokenizer = _tokenizer(VOCAB_TEXT)
    config = transformers.T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


CHAT_TEMPLATE = "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}{% if add_generation_prompt %}<s>{% endif %}"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
        pytest.skip(f"transformers and torch are not installed ({INSTALL_HINT})")
    root = tmp_path_factory.mktemp("tiny-llm")
    return {
        "gpt2": _save_gpt2(root / "gpt2"),
        "gpt2-chat": _save_gpt2(root / "gpt2-chat", chat_template=CHAT_TEMPLATE),
        "gpt2-short": _save_gpt2(root / "gpt2-short", n_positions=48),
        "gpt2-digits": _save_gpt2(root / "gpt2-digits", constant_token="8"),
        "t5": _save_t5(root / "t5"),
    }


@pytest.mark.parametrize("kind,encoder_decoder", [("gpt2", False), ("gpt2-chat", False), ("t5", True)])
def test_summarize_transformers_tiny_model(tiny_models, kind, encoder_decoder):
    stage = _registry().build(NAME, {"model": str(tiny_models[kind]), "max_new_tokens": 24, "device": "cpu"})
    field = stage(_doc(CALL), {})
    assert isinstance(field, TicketField)
    _assert_ticket_shape(field.value)
    assert field.confidence in (0.4, 0.6) and field.evidence == ()
    from summarize.transformers_backend import load_generator

    assert load_generator(str(tiny_models[kind]), "cpu", None).is_encoder_decoder is encoder_decoder


@pytest.mark.parametrize("kind", ["gpt2-digits"])
def test_summarize_transformers_masks_model_output(tiny_models, kind):
    """The rigged model answers 8888…: the summary masks it like a number."""
    stage = _registry().build(NAME, {"model": str(tiny_models[kind]), "max_new_tokens": 16, "device": "cpu"})
    value = stage(_doc("楼上漏水了。"), {}).value
    _assert_ticket_shape(value)
    assert re.search(r"8{2,3}\*{5,}8{2,4}", value), value


@pytest.mark.parametrize("kind", ["gpt2"])
def test_summarize_transformers_masks_prompt(tiny_models, monkeypatch, kind):
    """The caller's numbers never reach the model."""
    prompts = []
    original = Generator.generate

    def spy(self, prompt, max_new_tokens):
        prompts.append(prompt)
        return original(self, prompt, max_new_tokens)

    monkeypatch.setattr(Generator, "generate", spy)
    stage = _registry().build(NAME, {"model": str(tiny_models[kind]), "max_new_tokens": 4, "device": "cpu"})
    stage(_doc(CALL + "\n身份证310101199001011234"), {})
    assert len(prompts) == 1
    assert "138****5678" in prompts[0] and "13812345678" not in prompts[0] and "199001011234" not in prompts[0]


@pytest.mark.parametrize("kind", ["gpt2-short"])
def test_summarize_transformers_long_prompt_is_cut(tiny_models, caplog, kind):
    stage = _registry().build(NAME, {"model": str(tiny_models[kind]), "max_new_tokens": 8, "device": "cpu"})
    with caplog.at_level(logging.WARNING, logger="summarize"):
        value = stage(_doc(CALL * 3), {}).value
    assert "cut to the model's 40" in caplog.text
    _assert_ticket_shape(value)


@pytest.mark.parametrize(
    "transcript",
    [
        pytest.param(Transcript((), 0.0), id="no-segments"),
        pytest.param(text_transcript("Hello, the light is broken."), id="english"),
    ],
)
def test_summarize_transformers_nothing_to_say(tiny_models, transcript):
    stage = _registry().build(NAME, {"model": str(tiny_models["gpt2"]), "max_new_tokens": 4, "device": "cpu"})
    assert stage(TextDoc(transcript, tuple(() for _ in transcript.segments)), {}).value is None


@pytest.mark.parametrize("kind", ["gpt2"])
def test_summarize_transformers_ticket_builder_logs_no_number(tiny_models, caplog, kind):
    """Through TicketBuilder with every log level on: a summary in the ticket shape and no full number in any log."""
    pytest.importorskip("jieba")
    stages = dict(DEFAULT_STAGES, summary=NAME)
    config = {NAME: {"model": str(tiny_models[kind]), "max_new_tokens": 16, "device": "cpu"}}
    with caplog.at_level(logging.DEBUG):
        builder = TicketBuilder(TicketOptions(stages=stages, stage_config=config))
        draft = builder.build(text_transcript(CALL + "\n我身份证号310101199001011234"))
    _assert_ticket_shape(draft.summary.value)
    assert "13812345678" not in caplog.text and "310101199001011234" not in caplog.text
