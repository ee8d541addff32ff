"""Drift guards: `__all__` matches the public names, and the registry matches a committed snapshot."""

import importlib

import pytest

from pipeline.ticket import default_registry

REGISTERED_STAGES = {
    "caller.id.v1",
    "caller.phone.v1",
    "category.keywords.v1",
    "category.linear.v1",
    "department.linear.v1",
    "department.table.v1",
    "location.gazetteer.v1",
    "location.lac.v1",
    "location.spacy.v1",
    "request_type.linear.v1",
    "request_type.rules.v1",
    "request_type.rules.v2",
    "summarize.extractive.v1",
    "summarize.llamacpp.v1",
    "summarize.structured.v1",
    "summarize.transformers.v1",
    "urgency.linear.v1",
    "urgency.rules.v1",
    "urgency.rules.v2",
}


@pytest.mark.parametrize(
    "module",
    [
        "pipeline", "pipeline.base.types", "pipeline.base.errors", "pipeline.base.config", "pipeline.base.registry",
        "models", "asr", "classify", "summarize",
    ],  # fmt: skip
)
def test_public_api_all_names_exist(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"


@pytest.mark.parametrize("snapshot", [REGISTERED_STAGES])
def test_public_api_registry_snapshot(snapshot):
    assert set(default_registry().names) == snapshot


@pytest.mark.parametrize("module", ["asr", "pipeline", "models", "classify", "summarize"])
def test_public_api_import_has_no_heavy_side_effects(module):
    """Importing a package must not load faster-whisper (the engine is loaded on demand)."""
    import subprocess
    import sys

    code = f"import sys, {module}; print('faster_whisper' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
