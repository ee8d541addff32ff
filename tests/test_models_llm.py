"""models.llm: a GGUF language model from pinned packages (assembled like Whisper base) or from a path."""

import dataclasses
import hashlib

import pytest

from models import llm
from models.llm import DEFAULT_LLM, KNOWN_LLMS, LARGER_LLM, resolve_llm
from pipeline.base.errors import ModelError
from tests.test_models_registry import PART1, PART2, parts  # noqa: F401  (the fixture: fake packages on sys.path)


def _gguf_spec(fake, name="fake-llm"):
    spec = fake.spec(name)
    return dataclasses.replace(spec, extra_files=(), file_name="model.gguf")


@pytest.mark.parametrize("name", ["fake-llm"])
def test_llm_known_name_is_assembled_into_a_verified_gguf(parts, tmp_path, monkeypatch, name):  # noqa: F811
    monkeypatch.setitem(llm.KNOWN_LLMS, name, _gguf_spec(parts, name))
    path = resolve_llm(name, tmp_path)
    assert path == tmp_path / name / "model.gguf"
    assert path.read_bytes() == PART1 + PART2
    assert not (tmp_path / name / "model.bin").exists()
    assert resolve_llm(name, tmp_path) == path  # stamped: used again as is


@pytest.mark.parametrize("name", ["fake-llm"])
def test_llm_corrupt_parts_are_refused_with_the_fix(parts, tmp_path, monkeypatch, name):  # noqa: F811
    spec = dataclasses.replace(_gguf_spec(parts, name), model_bin_sha256=hashlib.sha256(b"other").hexdigest())
    monkeypatch.setitem(llm.KNOWN_LLMS, name, spec)
    with pytest.raises(ModelError, match=r"corrupt.*pip install --force-reinstall"):
        resolve_llm(name, tmp_path)
    assert not (tmp_path / name / "model.gguf").exists()


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00rest"])
def test_llm_a_gguf_path_is_used_as_is(tmp_path, content):
    path = tmp_path / "my model.gguf"
    path.write_bytes(content)
    assert resolve_llm(str(path)) == path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: d / "absent.gguf", "does not exist"),
        (lambda d: (d / "x.gguf").write_bytes(b"PK\x03\x04zip") and d / "x.gguf", "is not a GGUF model file"),
    ],
)
def test_llm_bad_paths_name_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ModelError, match=message) as e:
        resolve_llm(str(path))
    assert str(path) in str(e.value)


@pytest.mark.parametrize("name", ["qwen-7b"])
def test_llm_unknown_name_lists_the_known_ones(name):
    with pytest.raises(ModelError, match="unknown language model") as e:
        resolve_llm(name)
    assert DEFAULT_LLM in str(e.value)


@pytest.mark.parametrize(("name", "version", "parts", "pins"), [
    (DEFAULT_LLM, "0.9.0", 6, "llm-models.txt"),
    (LARGER_LLM, "0.2.0", 22, "llm-models-1.5b.txt"),
])  # fmt: skip
def test_llm_shipped_spec_is_pinned(name, version, parts, pins):
    spec = KNOWN_LLMS[name]
    assert spec.file_name == "model.gguf" and len(spec.model_bin_sha256) == 64
    assert [p.version for p in spec.model_bin_parts] == [version] * parts
    assert [p.path for p in spec.model_bin_parts] == [f"data/part{k:02d}.bin" for k in range(1, parts + 1)]
    lines = [ln for ln in (llm.Path(__file__).resolve().parent.parent / "requirements" / pins).read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert [ln.split(" --hash=sha256:")[0] for ln in lines] == [p.requirement for p in spec.model_bin_parts]
    assert all(len(ln.split(" --hash=sha256:")[1]) == 64 for ln in lines)
