"""Model provisioning: which model files the product uses, where they come from, how they are verified."""

from .registry import KNOWN_MODELS, ModelSpec, ModelStatus, cache_dir, list_models, resolve_whisper

__all__ = ["KNOWN_MODELS", "ModelSpec", "ModelStatus", "cache_dir", "list_models", "resolve_whisper"]
