"""Ticket summary stages.

Stages:
    summarize.extractive.v1: "来电人反映：<where><what>；诉求：<request>。" from the caller's own clauses,
        with phone and ID numbers masked.
    summarize.transformers.v1: the same shape written by a local seq2seq or causal language model (transformers,
        torch: ``pip install 'hotline[llm]'``, imported only when the stage is built).

A stage's options and their defaults are its factory's keyword arguments.
"""

from __future__ import annotations

import logging
from types import MappingProxyType

from pipeline.base.privacy import mask_pii
from pipeline.base.registry import Registry

from .extractive import make_extractive_summary
from .transformers_backend import make_transformers_summary

logger = logging.getLogger(__name__)

__all__ = ["STAGES", "make_extractive_summary", "make_transformers_summary", "mask_pii", "register"]

# registered name -> factory
STAGES = MappingProxyType({
    "summarize.extractive.v1": make_extractive_summary,
    "summarize.transformers.v1": make_transformers_summary,
})


def register(registry: Registry) -> None:
    """Register every summarize stage in `registry` (idempotent)."""
    for name, factory in STAGES.items():
        registry.register(name, factory)
