"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and they would catch an arrow the wrong way."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("asr", "classify", "models", "pipeline", "summarize")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {"PYTHONPATH": str(root), "PATH": str(exe.parent), "LANG": "C.UTF-8"}
    return subprocess.run([str(exe), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """The packages, cli.py and pyproject.toml, copied (without data files) so a test can break one."""
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("data", "__pycache__"))
    for name in ("cli.py", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_layers_contracts_hold_on_the_tree():
    out = _lint_imports(REPO)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("module,imports,broken", [
    ("models/registry.py", "from pipeline.batch import run_batch", "models is not allowed to import pipeline.batch"),
    ("pipeline/base/types.py", "import asr.audio", "pipeline.base is not allowed to import asr"),
    ("classify/caller.py", "from summarize.extractive import split_clauses", "classify is not allowed to import summarize"),
    ("asr/engine.py", "import cli", "asr is not allowed to import cli"),
])  # fmt: skip
def test_layers_an_import_the_wrong_way_breaks_a_contract(tree_copy, module, imports, broken):
    path = tree_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{imports}  # noqa\n", encoding="utf-8")
    out = _lint_imports(tree_copy)
    assert out.returncode != 0
    assert broken in out.stdout, out.stdout[-3000:]
