"""Ticket summary stages.

Stages:
    summarize.structured.v1 (the default): "来电人反映：<where><what>，诉求：<request>。" as an operator writes it:
        the caller's words without fillers, sure recognition errors fixed from the domain vocabulary, numbers in
        digits, the request without the asking; phone and ID numbers masked. The clauses of <what> are chosen by a
        learned selector (`summarize.selector`, shipped weights, retrained by ``bench/train_summary_selector.py``).
    summarize.extractive.v1: "来电人反映：<where><what>；诉求：<request>。" from the caller's own clauses,
        with phone and ID numbers masked.
    summarize.transformers.v1: the same shape written by a local seq2seq or causal language model (transformers,
        torch: ``pip install 'hotline[llm]'``, imported only when the stage is built).
    summarize.llamacpp.v1: the same shape written by a local GGUF model through llama.cpp (xllamacpp; the shipped
        Qwen2.5-Coder-0.5B-Instruct or any .gguf), every answer checked against the transcript
        (`summarize.faithful`); an answer naming what the caller did not say gives way to the default summary.

A stage's options and their defaults are its factory's keyword arguments.
"""

from __future__ import annotations

import logging
from types import MappingProxyType

from pipeline.base.privacy import mask_pii
from pipeline.base.registry import Registry

from .extractive import make_extractive_summary
from .llamacpp_backend import make_llamacpp_summary
from .structured import make_structured_summary
from .transformers_backend import make_transformers_summary

logger = logging.getLogger(__name__)

__all__ = [
    "STAGES", "make_extractive_summary", "make_llamacpp_summary", "make_structured_summary", "make_transformers_summary", "mask_pii", "register",
]  # fmt: skip

# registered name -> factory
STAGES = MappingProxyType({
    "summarize.extractive.v1": make_extractive_summary,
    "summarize.structured.v1": make_structured_summary,
    "summarize.transformers.v1": make_transformers_summary,
    "summarize.llamacpp.v1": make_llamacpp_summary,
})


def register(registry: Registry) -> None:
    """Register every summarize stage in `registry` (idempotent)."""
    for name, factory in STAGES.items():
        registry.register(name, factory)
