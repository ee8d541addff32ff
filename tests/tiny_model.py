"""Build a tiny CTranslate2 Whisper model directory for tests, without torch.

The model has Whisper's real interface (80 mel bins, 1500 encoder positions, 448 decoder positions, the
multilingual 51,865-token vocabulary with the real tokenizer.json and config.json token ids) but a 64-wide,
2-layer, 2-head body, so it is a 7 MB directory built in a fraction of a second. It stands in for the larger
models (small, large-v3, Chinese fine-tunes) that users point the product at with a directory or a hub name:
the same files, the same loading path.

Random weights would decode garbage up to 448 tokens per window and make faster-whisper retry at every
temperature (seconds per call, different text each run). So the decoder is scripted: its residual branches
are zeroed, which leaves the final hidden state a function of the token and position embeddings only, and
each position's embedding points at the embedding row of the token to emit there. With the default prompt
(<|startoftranscript|><|zh|><|transcribe|>) the model writes `<|0.00|> TINY_TEXT <|1.00|> <|endoftext|>`
whatever the audio (the encoder still runs on it with random weights), in milliseconds, every time.

The weights are set directly in `ctranslate2.specs.WhisperSpec` (the layout CTranslate2's Transformers
converter produces) and written with `spec.save`; only numpy and ctranslate2 are needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["TINY_END_S", "TINY_FILES", "TINY_TEXT", "build_tiny_whisper", "layout_hub_cache"]

N_MELS = 80
ENCODER_POSITIONS = 1500  # 3000 feature frames after conv2's stride 2
DECODER_POSITIONS = 448  # faster-whisper's max_length
PROMPT_LENGTH = 3  # <|startoftranscript|> <|zh|> <|transcribe|>
EOT = 50257
TIMESTAMP_BEGIN = 50364  # <|0.00|>; one token per 0.02 s
TINY_TEXT = "热线测试"
TINY_END_S = 1.0
TINY_FILES = ("model.bin", "config.json", "vocabulary.json", "tokenizer.json")


def _sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's encoder position encodings."""
    increment = np.log(10000) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def _fill(spec, script: list[int], d_model: int, ffn: int, vocab_size: int, rng: np.random.Generator) -> None:
    """Set every weight of `spec`; the decoder emits `script` after the 3-token prompt."""

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, np.float32)

    def norm(ln) -> None:
        ln.gamma, ln.beta = np.ones(d_model, np.float32), zeros(d_model)

    enc = spec.encoder
    enc.conv1.weight, enc.conv1.bias = w(d_model, N_MELS, 3), zeros(d_model)
    enc.conv2.weight, enc.conv2.bias = w(d_model, d_model, 3), zeros(d_model)
    enc.position_encodings.encodings = _sinusoids(ENCODER_POSITIONS, d_model)
    norm(enc.layer_norm)
    for layer in enc.layer:
        norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = w(3 * d_model, d_model)  # fused q, k, v
        layer.self_attention.linear[1].weight = w(d_model, d_model)
        norm(layer.ffn.layer_norm)
        layer.ffn.linear_0.weight, layer.ffn.linear_1.weight = w(ffn, d_model), w(d_model, ffn)

    # Decoder: every residual branch writes zeros (out projections 0), so the output at position p is
    # LayerNorm(embedding[token] + position[p]) @ embedding.T (tied projection). Attention still runs, so
    # cross-attention weights exist for word alignment.
    dec = spec.decoder
    norm(dec.layer_norm)
    for layer in dec.layer:
        norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = w(3 * d_model, d_model)
        layer.self_attention.linear[1].weight = zeros(d_model, d_model)
        norm(layer.attention.layer_norm)
        layer.attention.linear[0].weight = w(d_model, d_model)  # q
        layer.attention.linear[1].weight = w(2 * d_model, d_model)  # fused k, v over the encoder output
        layer.attention.linear[2].weight = zeros(d_model, d_model)
        norm(layer.ffn.layer_norm)
        layer.ffn.linear_0.weight, layer.ffn.linear_1.weight = w(ffn, d_model), zeros(d_model, ffn)

    # One orthonormal, zero-mean direction per scripted token (zero mean survives LayerNorm's centering).
    tokens = list(dict.fromkeys(script))
    basis = rng.standard_normal((d_model, len(tokens) + 1))
    basis[:, 0] = 1.0
    directions = np.linalg.qr(basis)[0][:, 1:].T  # orthogonal to the all-ones vector
    embeddings, positions = w(vocab_size, d_model), w(DECODER_POSITIONS, d_model)
    for token, direction in zip(tokens, directions):
        embeddings[token] = 3.0 * direction
    for i, token in enumerate(script):
        positions[PROMPT_LENGTH - 1 + i] = 100.0 * directions[tokens.index(token)]
    dec.embeddings.weight = embeddings
    dec.position_encodings.encodings = positions
    dec.projection.weight = dec.embeddings.weight  # tied, as in Whisper; saved once as an alias


def build_tiny_whisper(
    output_dir: Path,
    reference_dir: Path,
    *,
    text: str = TINY_TEXT,
    end_s: float = TINY_END_S,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny Whisper model into `output_dir` (created; must not hold a model already).

    Args:
        output_dir: the directory to create.
        reference_dir: a real multilingual CTranslate2 Whisper directory (the assembled `base`), whose
            vocabulary.txt, tokenizer.json and config.json token ids the tiny model reuses.
        text: what the model transcribes, whatever the audio: one segment between the timestamps 0.00 s
            and `end_s` (faster-whisper's word timestamps may move its end within the audio).
        d_model, layers, heads, seed: the body's size and the random weights' seed.

    Returns:
        `output_dir`, holding model.bin, config.json, vocabulary.json and tokenizer.json.
    """
    import tokenizers
    from ctranslate2.specs import WhisperSpec

    reference_dir = Path(reference_dir)
    vocabulary = (reference_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    reference = json.loads((reference_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer = tokenizers.Tokenizer.from_file(str(reference_dir / "tokenizer.json"))
    text_ids = tokenizer.encode(text, add_special_tokens=False).ids
    script = [TIMESTAMP_BEGIN, *text_ids, TIMESTAMP_BEGIN + round(end_s / 0.02), EOT]

    spec = WhisperSpec(layers, heads, layers, heads)
    _fill(spec, script, d_model, 4 * d_model, len(vocabulary), np.random.default_rng(seed))
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
