"""summarize.transformers.v1: the ticket summary written by a local Hugging Face seq2seq or causal language model.

Any model directory (config.json, tokenizer files, weights) or hub name in the local cache works: an instruction
model such as ``Qwen/Qwen2.5-0.5B-Instruct`` (chat template applied), or a seq2seq model (T5, BART, mT5 …). The
model kind is taken from the model's config (``is_encoder_decoder``). The model is asked, with a Chinese prompt, for
the usual ``来电人反映：<where><what>；诉求：<request>。``; an answer that does not follow that shape is wrapped into
it. Phone and ID numbers are masked in the transcript given to the model and again in its answer.

transformers and torch are imported when the stage is built, not when this module is imported; they come with
``pip install 'hotline[llm]'``. A model is loaded once per (model, device) and process.
"""

from __future__ import annotations

import logging
import os
import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from pipeline.base.config import check_number
from pipeline.base.errors import ModelError
from pipeline.base.privacy import mask_pii
from pipeline.base.types import TextDoc, TicketField

from .extractive import make_extractive_summary

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROMPT", "INSTALL_HINT", "Generator", "load_generator", "make_transformers_summary", "parse_summary"]

NAME = "summarize.transformers.v1"
INSTALL_HINT = "pip install 'hotline[llm]'"
DEFAULT_PROMPT = (
    "你是12345市民服务热线的话务员。请根据下面的来电记录写一句工单摘要，格式为：\n"
    "来电人反映：<地点><问题>；诉求：<来电人的要求>。\n"
    "只写来电记录里有的内容，不要写电话号码和身份证号，只输出这一句。\n"
    "来电记录：\n{transcript}\n"
)
PROMPT_FIELDS = ("transcript", "location", "request_type", "category", "urgency")
DEFAULT_REQUEST = "请相关部门核实处理"
_TEMPLATE = "来电人反映：{what}；诉求：{request}。"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::\d+)?")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CJK_SPACE = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")
_LABEL = re.compile(r"^(?:工单摘要|摘要|总结|回答|答)\s*[:：]\s*")
_STRUCTURED = re.compile(r"^来电人反映\s*[:：]\s*(?P<what>.*?)\s*[;；。，,]?\s*诉求\s*[:：]\s*(?P<request>.*)$")
_REPORT_ONLY = re.compile(r"^来电人反映\s*[:：]\s*(?P<what>.*)$")
_TRAILING = re.compile(r"[\s。.!！;；，,、]+$")
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _import_backend():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ImportError(f"{NAME} needs transformers and torch ({e.name or e} is missing): {INSTALL_HINT}") from None
    return torch, transformers


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~", "\\")) or os.path.isabs(model) or Path(model).expanduser().exists()


class Generator:
    """A loaded tokenizer and model: `generate(prompt, max_new_tokens)` returns the model's answer as text."""

    def __init__(self, name: str, tokenizer: Any, model: Any, device: str):
        self.name = name
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        config = model.config
        self.is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        tok_max = getattr(tokenizer, "model_max_length", None)
        limits = [n for n in (positions, tok_max) if isinstance(n, int) and 0 < n < 1_000_000]
        self.max_input_tokens = min(limits) if limits else None

    def prompt_ids(self, prompt: str, max_new_tokens: int) -> list[int]:
        """Token ids of `prompt` (through the chat template when the tokenizer has one), cut to fit the model."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        else:
            ids = tok(prompt)["input_ids"]
        limit = self.max_input_tokens
        if limit is not None and not self.is_encoder_decoder:
            limit -= max_new_tokens  # a causal model's positions hold the prompt and the answer
        if limit is not None and len(ids) > max(1, limit):
            limit = max(1, limit)
            logger.warning("%s: prompt of %d tokens cut to the model's %d", NAME, len(ids), limit)
            ids = ids[:limit] if self.is_encoder_decoder else ids[-limit:]  # a causal model must see the prompt's end
        return ids

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        torch, transformers = _import_backend()
        ids = self.prompt_ids(prompt, max_new_tokens)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        defaults = self.model.generation_config
        eos = defaults.eos_token_id if defaults.eos_token_id is not None else self.tokenizer.eos_token_id
        pad = defaults.pad_token_id if defaults.pad_token_id is not None else self.tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if isinstance(eos, list) else eos
        # a fresh, greedy generation config: a model's sampling defaults (temperature, top_p) would make summaries vary
        gen = transformers.GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos,
            pad_token_id=pad,
            bos_token_id=defaults.bos_token_id,
            decoder_start_token_id=defaults.decoder_start_token_id,
        )
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), generation_config=gen)
        answer = out[0] if self.is_encoder_decoder else out[0, input_ids.shape[1] :]
        return self.tokenizer.decode(answer.tolist(), skip_special_tokens=True)


@lru_cache(maxsize=2)
def load_generator(model: str, device: str = "auto", local_files_only: Optional[bool] = None) -> Generator:
    """Load the tokenizer and the model `model` (a directory or a hub name) once per process.

    Args:
        model: a model directory or a hub name ("org/name").
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N" or "mps".
        local_files_only: never download; None = True for a directory, or when HF_HUB_OFFLINE /
            TRANSFORMERS_OFFLINE is set, else False.

    Raises:
        ImportError: transformers or torch is not installed (with the pip line that installs them).
        ModelError: the model is missing or cannot be loaded; the message names it and says how to fix it.
    """
    torch, transformers = _import_backend()
    path = Path(model).expanduser()
    is_dir = path.is_dir()
    if _looks_like_path(model) and not is_dir:
        raise ModelError(
            f"{NAME}: no model directory at {str(path)!r}. Put a Hugging Face model directory there (config.json, tokenizer "
            f"files and weights, e.g. saved with save_pretrained), or set the stage's `model` to a hub name in the local "
            f"cache; transformers and torch come with {INSTALL_HINT}"
        )
    if is_dir and not (path / "config.json").is_file():
        raise ModelError(
            f"{NAME}: {str(path)!r} is not a model directory (it has no config.json); save the model there with save_pretrained"
        )
    if local_files_only is None:
        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in _OFFLINE_VARIABLES)
        local_files_only = is_dir or offline
    source = str(path) if is_dir else model
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_files_only)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        auto = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
        dtype = torch.float32 if device == "cpu" else "auto"
        lm = auto.from_pretrained(source, config=config, local_files_only=local_files_only, dtype=dtype)
    except Exception as e:  # OSError (missing files, not cached), ValueError (bad name or config), weights errors …
        where = "directory" if is_dir else ("local Hugging Face cache" if local_files_only else "hub")
        hint = (
            "put a model directory at a path and set the stage's `model` to it"
            if local_files_only
            else "check the name, or put a model directory at a path and set the stage's `model` to it"
        )
        raise ModelError(
            f"{NAME}: cannot load model {model!r} from the {where} ({type(e).__name__}: {_first_line(e)}); {hint} "
            f"(transformers and torch come with {INSTALL_HINT})"
        ) from e
    lm.to(device)
    lm.eval()
    kind = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"
    logger.info("%s: loaded %s model %s on %s", NAME, kind, model, device)
    return Generator(model, tokenizer, lm, device)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def parse_summary(raw: str, max_chars: int = 120) -> Optional[tuple[str, bool]]:
    """Turn a model's answer into ``来电人反映：…；诉求：….``, masked and at most `max_chars` long.

    Returns:
        (summary, True) when the answer had that shape, (summary, False) when it was wrapped into it (the answer
        becomes <what>, 请相关部门核实处理 the request), None when the answer has no text.

    >>> parse_summary("摘要：来电人反映：张杨路500号路灯坏了；诉求：尽快修复")
    ('来电人反映：张杨路500号路灯坏了；诉求：尽快修复。', True)
    >>> parse_summary("路灯坏了，电话13812345678")
    ('来电人反映：路灯坏了，电话138****5678；诉求：请相关部门核实处理。', False)
    """
    lines = [_LABEL.sub("", _CJK_SPACE.sub("", line.strip())) for line in (raw or "").splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    start = next((i for i, line in enumerate(lines) if line.startswith("来电人反映")), None)
    if start is None:
        text = lines[0]
    else:
        text = lines[start]
        if "诉求" not in text and start + 1 < len(lines) and lines[start + 1].startswith("诉求"):
            text += "；" + lines[start + 1]
    m = _STRUCTURED.match(text)
    structured = m is not None
    if m:
        what, request = m.group("what"), m.group("request")
    else:
        report = _REPORT_ONLY.match(text)
        what, request = (report.group("what") if report else text), ""
    what, request = _TRAILING.sub("", what).strip(), _TRAILING.sub("", request).strip()
    if not what:
        if not request:
            return None
        what = "相关问题"
    request = request or DEFAULT_REQUEST
    what, request = mask_pii(what), mask_pii(request)
    room = max_chars - len(_TEMPLATE.format(what="", request=""))
    request = _truncate(request, max(8, min(len(request), room // 3)))
    what = _truncate(what, room - len(request))
    return _TEMPLATE.format(what=what, request=request), structured


def _check_prompt(prompt: object) -> None:
    if not isinstance(prompt, str):
        raise TypeError(f"{NAME} prompt must be a str, got {type(prompt).__name__}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
    except ValueError as e:
        raise ValueError(f"{NAME} prompt is not a valid template ({e}); escape literal braces as {{{{ }}}}") from None
    unknown = sorted(names - set(PROMPT_FIELDS))
    if unknown:
        known = ", ".join("{" + f + "}" for f in PROMPT_FIELDS)
        raise ValueError(f"{NAME} prompt has unknown field {{{unknown[0]}}}; fields are {known}")
    if "transcript" not in names:
        raise ValueError(f"{NAME} prompt must contain {{transcript}}, where the call's text goes")


def make_transformers_summary(
    model: str = "Qwen/Qwen2.5-0.5B-Instruct",
    max_new_tokens: int = 128,
    device: str = "auto",
    prompt: str = DEFAULT_PROMPT,
    fallback_to_extractive: bool = False,
    local_files_only: Optional[bool] = None,
    max_chars: int = 120,
    max_input_chars: int = 2000,
):
    """Build the stage (loads the model).

    Args:
        model: a model directory or a hub name (seq2seq or causal LM; chat models get their chat template).
        max_new_tokens: the longest answer in tokens (1..2048).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        prompt: the prompt template; ``{transcript}`` is the caller's text (numbers masked); ``{location}``,
            ``{request_type}``, ``{category}`` and ``{urgency}`` are the fields drafted before ("未知" when unknown).
        fallback_to_extractive: when the model cannot be loaded (missing, transformers not installed), fails, or
            answers nothing, use summarize.extractive.v1 (with a warning) instead of failing.
        local_files_only: never download (None: only when the model is a directory or HF_HUB_OFFLINE is set).
        max_chars: the longest summary, template included (>= 30).
        max_input_chars: the caller's text is cut to this many characters before it goes into the prompt.

    Returns:
        A stage whose value is the summary: confidence 0.6 when the model answered in the ticket shape, 0.4 when its
        answer was wrapped into it; no evidence (a generated summary cites nothing). Unknown for a call without
        Chinese text.

    Raises:
        ImportError: transformers or torch is missing (and no fallback).
        ModelError: the model is missing or cannot be loaded (and no fallback).
        ValueError, TypeError: a bad option (names it).
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{NAME} model must be a model directory or hub name, got {model!r}")
    check_number(f"{NAME}.max_new_tokens", max_new_tokens, 1, 2048, integer=True)
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(f"{NAME} device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    _check_prompt(prompt)
    if local_files_only is not None and not isinstance(local_files_only, bool):
        raise TypeError(f"{NAME} local_files_only must be true, false or null, got {local_files_only!r}")
    check_number(f"{NAME}.max_chars", max_chars, 30, integer=True)
    check_number(f"{NAME}.max_input_chars", max_input_chars, 10, integer=True)
    fallback = make_extractive_summary(max_chars=max_chars) if fallback_to_extractive else None
    try:
        generator: Optional[Generator] = load_generator(model, device, local_files_only)
    except (ImportError, ModelError) as e:
        if fallback is None:
            raise
        logger.warning("%s: %s; using summarize.extractive.v1 instead", NAME, e)
        generator = None

    def summarize(doc: TextDoc, fields: Mapping[str, TicketField]) -> TicketField:
        text = "\n".join(mask_pii(seg.text.strip()) for seg in doc.segments if seg.text.strip())
        if not _HAN.search(text):
            return TicketField.unknown()
        if generator is None:
            return fallback(doc, fields)
        values = {name: _field_value(fields, name) for name in PROMPT_FIELDS[1:]}
        try:
            raw = generator.generate(prompt.format(transcript=_truncate(text, max_input_chars), **values), max_new_tokens)
        except Exception as e:
            if fallback is None:
                raise
            logger.warning("%s: generation failed (%s); using summarize.extractive.v1 instead", NAME, type(e).__name__)
            return fallback(doc, fields)
        parsed = parse_summary(raw, max_chars)
        if parsed is None:
            if fallback is not None:
                logger.warning("%s: the model answered nothing; using summarize.extractive.v1 instead", NAME)
                return fallback(doc, fields)
            return TicketField.unknown()
        summary, structured = parsed
        return TicketField(summary, 0.6 if structured else 0.4)

    return summarize


def _field_value(fields: Mapping[str, TicketField], name: str) -> str:
    field = fields.get(name)
    return mask_pii(field.value) if field is not None and field.value else "未知"
