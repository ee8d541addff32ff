"""Build a tiny random-weight CTranslate2 Whisper model directory for tests, without torch.

The model has Whisper's real interface (80 mel bins, 1500 encoder positions, 448 decoder positions, the
multilingual 51,865-token vocabulary with its tokenizer.json and config.json ids) but a 64-wide, 2-layer,
2-head body with seeded random weights, so it loads and decodes in milliseconds and writes garbage text.
It stands in for the larger models (small, large-v3, Chinese fine-tunes) that users point the product at
with a directory or a hub name: the same files, the same loading path.

The weights are filled directly into `ctranslate2.specs.WhisperSpec` (the layout CTranslate2's own
Transformers converter produces) and saved with `spec.save`; only numpy is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["TINY_FILES", "build_tiny_whisper", "layout_hub_cache"]

N_MELS = 80
ENCODER_POSITIONS = 1500  # 3000 feature frames after conv2's stride 2
DECODER_POSITIONS = 448  # faster-whisper's max_length
TINY_FILES = ("model.bin", "config.json", "vocabulary.json", "tokenizer.json")


def _sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's encoder position encodings."""
    increment = np.log(10000) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def _fill(spec, d_model: int, ffn: int, vocab_size: int, rng: np.random.Generator) -> None:
    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def norm(ln) -> None:
        ln.gamma = np.ones(d_model, np.float32)
        ln.beta = np.zeros(d_model, np.float32)

    def ffn_(f) -> None:
        norm(f.layer_norm)
        f.linear_0.weight, f.linear_0.bias = w(ffn, d_model), np.zeros(ffn, np.float32)
        f.linear_1.weight, f.linear_1.bias = w(d_model, ffn), np.zeros(d_model, np.float32)

    def self_attention(a) -> None:
        norm(a.layer_norm)
        a.linear[0].weight = w(3 * d_model, d_model)  # fused q, k, v
        a.linear[1].weight = w(d_model, d_model)

    enc = spec.encoder
    enc.conv1.weight, enc.conv1.bias = w(d_model, N_MELS, 3), np.zeros(d_model, np.float32)
    enc.conv2.weight, enc.conv2.bias = w(d_model, d_model, 3), np.zeros(d_model, np.float32)
    enc.position_encodings.encodings = _sinusoids(ENCODER_POSITIONS, d_model)
    norm(enc.layer_norm)
    for layer in enc.layer:
        self_attention(layer.self_attention)
        ffn_(layer.ffn)

    dec = spec.decoder
    dec.embeddings.weight = w(vocab_size, d_model)
    dec.position_encodings.encodings = w(DECODER_POSITIONS, d_model)
    norm(dec.layer_norm)
    for layer in dec.layer:
        self_attention(layer.self_attention)
        norm(layer.attention.layer_norm)
        layer.attention.linear[0].weight = w(d_model, d_model)  # q
        layer.attention.linear[1].weight = w(2 * d_model, d_model)  # fused k, v over the encoder output
        layer.attention.linear[2].weight = w(d_model, d_model)
        ffn_(layer.ffn)
    dec.projection.weight = dec.embeddings.weight  # tied, as in Whisper; saved once as an alias


def build_tiny_whisper(
    output_dir: Path,
    reference_dir: Path,
    *,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny random Whisper model into `output_dir` (created; must not hold a model already).

    Args:
        output_dir: the directory to create.
        reference_dir: a real multilingual CTranslate2 Whisper directory (the assembled `base`), whose
            vocabulary, tokenizer.json and config.json token ids the tiny model reuses.
        d_model, layers, heads, seed: the body's size and the random weights' seed.

    Returns:
        `output_dir`, holding model.bin, config.json, vocabulary.json and tokenizer.json.
    """
    from ctranslate2.specs import WhisperSpec

    reference_dir = Path(reference_dir)
    vocabulary = (reference_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    reference = json.loads((reference_dir / "config.json").read_text(encoding="utf-8"))

    spec = WhisperSpec(layers, heads, layers, heads)
    _fill(spec, d_model, 4 * d_model, len(vocabulary), np.random.default_rng(seed))
    spec.register_vocabulary(vocabulary)
    spec.config.suppress_ids = reference["suppress_ids"]
    spec.config.suppress_ids_begin = reference["suppress_ids_begin"]
    spec.config.lang_ids = reference["lang_ids"]
    spec.config.alignment_heads = [[layer, head] for layer in range(layers // 2, layers) for head in range(heads)]
    spec.validate()
    spec.optimize(quantization="float16")

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec.save(str(output_dir))
    shutil.copyfile(reference_dir / "tokenizer.json", output_dir / "tokenizer.json")
    return output_dir


def layout_hub_cache(hub: Path, repo_id: str, model_dir: Path, revision: str = "0" * 40) -> Path:
    """Lay `model_dir`'s files out as huggingface_hub's cache does after a download of `repo_id`.

    `<hub>/models--org--name/{blobs/<sha256>, snapshots/<revision>/<file> -> ../../blobs/<sha256>, refs/main}`.
    Returns the snapshot directory.
    """
    storage = Path(hub) / ("models--" + repo_id.replace("/", "--"))
    blobs, snapshot = storage / "blobs", storage / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for src in sorted(Path(model_dir).iterdir()):
        if not src.is_file():
            continue
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        shutil.copyfile(src, blobs / digest)
        link = snapshot / src.name
        try:
            os.symlink(Path("..", "..", "blobs", digest), link)
        except OSError:  # no symlinks (Windows without developer mode): huggingface_hub copies then
            shutil.copyfile(src, link)
    (storage / "refs").mkdir(exist_ok=True)
    (storage / "refs" / "main").write_text(revision)
    return snapshot
