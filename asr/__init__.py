"""Speech recognition: audio loading, the Whisper engine, Chinese output hygiene."""

from .audio import AUDIO_EXTENSIONS, SAMPLE_RATE_HZ, DecodedAudio, find_audio_files, load_audio
from .hygiene import clean_text, to_simplified, traditional_chars

__all__ = [
    "AUDIO_EXTENSIONS", "SAMPLE_RATE_HZ", "DecodedAudio", "WhisperEngine", "clean_text", "find_audio_files",
    "load_audio", "to_simplified", "traditional_chars",
]  # fmt: skip


def __getattr__(name: str):
    # The engine imports faster-whisper; load it only when asked for.
    if name == "WhisperEngine":
        from .engine import WhisperEngine

        return WhisperEngine
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
