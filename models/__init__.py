"""Model provisioning: which model files the product uses, where they come from, how they are verified."""

from .llm import DEFAULT_LLM, KNOWN_LLMS, resolve_llm
from .registry import KNOWN_MODELS, ModelSpec, ModelStatus, cache_dir, list_models, resolve_whisper

__all__ = [
    "DEFAULT_LLM", "KNOWN_LLMS", "KNOWN_MODELS", "ModelSpec", "ModelStatus", "cache_dir", "list_models", "resolve_llm", "resolve_whisper",
]  # fmt: skip
