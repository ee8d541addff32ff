"""Larger models through the real loading path, with a tiny CTranslate2 Whisper model built at test time.

Users run small, large-v3 or a Chinese fine-tune by passing a local directory or a hub name as --model.
Those models are too big for tests, so `tests/tiny_model.py` builds one with the same files and interface
(7 MB, scripted to say TINY_TEXT) and these tests load it the way the product does:
`WhisperEngine(AsrOptions(model=...))` → `resolve_whisper` → faster-whisper → CTranslate2. The hub cases
run with huggingface_hub in offline mode, against a cache laid out as a download leaves it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper")

from asr.engine import WhisperEngine
from models import list_models, resolve_whisper
from pipeline.base.config import AsrOptions
from pipeline.base.errors import ModelError
from pipeline.base.types import Segment
from tests.tiny_model import TINY_FILES, TINY_TEXT, build_tiny_whisper, layout_hub_cache

DURATION_S = 2.0
SAMPLE_RATE_HZ = 16000


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny model, built once for this module from the embedded base model's vocabulary and tokenizer."""
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny") / "tiny-whisper", resolve_whisper("base"))


@pytest.fixture
def hub_offline(monkeypatch):
    """huggingface_hub in offline mode: the env var for subprocesses, the constant it read at import for us."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _audio(kind: str) -> np.ndarray:
    n = int(DURATION_S * SAMPLE_RATE_HZ)
    if kind == "silence":
        return np.zeros(n, np.float32)
    return (np.random.default_rng(0).standard_normal(n) * 0.1).astype(np.float32)


def _check_segments(segments: list) -> None:
    assert segments, "the tiny model always says something"
    assert all(isinstance(s, Segment) for s in segments)
    assert [s.id for s in segments] == list(range(len(segments)))
    assert "".join(s.text for s in segments) == TINY_TEXT + "。"  # hygiene closes the sentence
    for s in segments:
        assert 0.0 <= s.start_s <= s.end_s <= DURATION_S + 0.01
        for w in s.words:
            assert s.start_s - 0.01 <= w.start_s <= w.end_s <= s.end_s + 0.01


@pytest.mark.parametrize("build_s", [10.0])
def test_tiny_model_builds_fast_with_every_file(tmp_path, build_s):
    import time

    reference = resolve_whisper("base")
    start = time.perf_counter()
    out = build_tiny_whisper(tmp_path / "m", reference)
    elapsed = time.perf_counter() - start

    assert elapsed < build_s
    assert sorted(p.name for p in out.iterdir()) == sorted(TINY_FILES)
    assert (out / "model.bin").stat().st_size < 10_000_000
    assert resolve_whisper(str(out)) == out


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_tiny_engine_transcribes_from_a_local_directory(tiny_dir, kind):
    engine = WhisperEngine(AsrOptions(model=str(tiny_dir), vad=False, beam_size=5))

    segments = list(engine.transcribe(_audio(kind), speaker="caller", offset_s=0.0))

    assert engine.info.model_path == str(tiny_dir)
    assert engine.info.model == str(tiny_dir)
    _check_segments(segments)
    assert {s.speaker for s in segments} == {"caller"}


@pytest.mark.parametrize("offset_s", [30.0])
def test_tiny_engine_shifts_times_by_offset(tiny_dir, offset_s):
    engine = WhisperEngine(AsrOptions(model=str(tiny_dir), vad=False))

    plain = list(engine.transcribe(_audio("noise")))
    shifted = list(engine.transcribe(_audio("noise"), offset_s=offset_s))

    assert [s.text for s in shifted] == [s.text for s in plain]
    expected = [t + offset_s for s in plain for t in (s.start_s, s.end_s, *(x for w in s.words for x in (w.start_s, w.end_s)))]
    actual = [t for s in shifted for t in (s.start_s, s.end_s, *(x for w in s.words for x in (w.start_s, w.end_s)))]
    assert actual == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["silence"])
def test_tiny_engine_vad_drops_silence(tiny_dir, kind):
    engine = WhisperEngine(AsrOptions(model=str(tiny_dir)))  # VAD on, as by default

    assert list(engine.transcribe(_audio(kind))) == []


@pytest.mark.parametrize("repo_id", ["someorg/tiny-zh"])
def test_tiny_engine_loads_a_hub_name_offline_from_the_cache(tiny_dir, tmp_path, hub_offline, repo_id):
    model_dir = tmp_path / "cache"
    snapshot = layout_hub_cache(model_dir / "hub", repo_id, tiny_dir)

    engine = WhisperEngine(AsrOptions(model=repo_id, model_dir=model_dir, vad=False))

    assert Path(engine.info.model_path) == snapshot
    assert engine.info.model == repo_id
    _check_segments(list(engine.transcribe(_audio("noise"))))


@pytest.mark.parametrize("size", ["small", "large-v3"])
def test_tiny_size_name_resolves_offline_from_the_cache(tiny_dir, tmp_path, hub_offline, size):
    snapshot = layout_hub_cache(tmp_path / "hub", f"Systran/faster-whisper-{size}", tiny_dir)

    assert resolve_whisper(size, tmp_path) == snapshot
    assert {m.name: m.ready for m in list_models(tmp_path)}[size] is True


@pytest.mark.parametrize("size", ["turbo", "distil-large-v3", "large"])
def test_tiny_list_models_sees_every_cached_size(tiny_dir, tmp_path, hub_offline, size):
    from faster_whisper.utils import _MODELS

    snapshot = layout_hub_cache(tmp_path / "hub", _MODELS[size], tiny_dir)
    assert resolve_whisper(size, tmp_path) == snapshot  # resolving works ...

    # regression: list_models used to look only under models--Systran--faster-whisper-<name>
    assert {m.name: m.ready for m in list_models(tmp_path)}[size] is True


@pytest.mark.parametrize("name", ["someorg/not-here", "small"])
def test_tiny_unknown_hub_name_offline_says_what_to_do(tmp_path, hub_offline, name):
    with pytest.raises(ModelError, match=f"model '{name}' is not on this machine") as err:
        resolve_whisper(name, tmp_path)

    message = str(err.value)
    assert "--model" in message and "directory" in message
    assert f"hotline models --fetch {name}" in message


@pytest.mark.parametrize("repo_id", ["someorg/half-downloaded"])
def test_tiny_hub_snapshot_without_model_bin_names_it(tiny_dir, tmp_path, hub_offline, repo_id):
    snapshot = layout_hub_cache(tmp_path / "hub", repo_id, tiny_dir)
    (snapshot / "model.bin").unlink()

    with pytest.raises(ModelError, match="missing model.bin") as err:
        resolve_whisper(repo_id, tmp_path)
    assert str(snapshot) in str(err.value)


@pytest.mark.parametrize("missing", [("model.bin",), ("config.json",), ("model.bin", "config.json")])
def test_tiny_directory_missing_files_names_dir_and_files(tiny_dir, tmp_path, missing):
    broken = tmp_path / "my-finetune"
    shutil.copytree(tiny_dir, broken)
    for name in missing:
        (broken / name).unlink()

    with pytest.raises(ModelError, match="missing " + ", ".join(missing)) as err:
        WhisperEngine(AsrOptions(model=str(broken)))
    assert str(broken) in str(err.value)
    assert "ct2-transformers-converter" in str(err.value)


@pytest.mark.parametrize("name", ["./no-such-model-dir", "/no/such/model/dir"])
def test_tiny_nonexistent_directory_is_named(name):
    with pytest.raises(ModelError, match=f"model directory '{name}' does not exist"):
        resolve_whisper(name)


@pytest.mark.parametrize("content", [b"not a model", b""])
def test_tiny_corrupt_model_bin_fails_to_load_with_its_path(tiny_dir, tmp_path, content):
    broken = tmp_path / "corrupt"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.bin").write_bytes(content)

    with pytest.raises(ModelError, match="cannot load Whisper model from") as err:
        WhisperEngine(AsrOptions(model=str(broken), device="cpu"))
    assert str(broken) in str(err.value)
