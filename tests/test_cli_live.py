"""`hotline live` end to end through a real audio server: PulseAudio null sinks, PortAudio, Whisper."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import cli
from asr.metrics import cer

pytestmark = [pytest.mark.audio_server, pytest.mark.model]

REPO = Path(__file__).resolve().parent.parent
CALLER_WAV = REPO / "audio_samples" / "BAC009S0764W0121.wav"
CALLER_REF = "甚至出现交易几乎停滞的情况"


def _play(server, sink):
    player = server.play(sink, CALLER_WAV)
    player.wait(timeout=30)
    player.stderr.close()


def _wait_for_recording(server, timeout_s: float = 60.0) -> None:
    """Wait until the CLI (which loads Whisper and the ticket stages first) has its capture stream open on
    `server`, then a little longer: a null sink's monitor starts delivering in blocks of up to 2 s."""
    deadline = time.monotonic() + timeout_s
    while not server.pactl("list", "short", "source-outputs").strip():
        assert time.monotonic() < deadline, "hotline live never opened its capture stream"
        time.sleep(0.2)
    time.sleep(2.5)


def _run_cli(argv):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("code", cli.main(argv)), daemon=True)
    thread.start()
    return thread, box


@pytest.mark.parametrize("backend", ["sounddevice", "pyaudio"])
def test_cli_live_call_ends_on_hangup_silence_and_saves_ticket(pulse_audio, engine, tmp_path, capfd, backend):
    out = tmp_path / "out"
    thread, box = _run_cli(["live", "--backend", backend, "--device", "hotline_callsink", "--hangup-silence", "2.5", "--out", str(out)])
    _wait_for_recording(pulse_audio.main)
    _play(pulse_audio.main, "callsink")
    thread.join(timeout=90)
    assert not thread.is_alive(), "the call did not end on hang-up silence"
    assert box.get("code") == 0, capfd.readouterr().err[-2000:]
    saved = list(out.glob("call-*.json"))
    assert len(saved) == 1
    result = json.loads(saved[0].read_text(encoding="utf-8"))
    edits, n = cer(CALLER_REF, result["transcript"]["text"])
    assert edits / n <= 0.35, result["transcript"]["text"]
    assert set(result["ticket"]) >= {"request_type", "category", "location", "summary", "urgency"}


@pytest.mark.parametrize("backend", ["sounddevice"])
def test_cli_live_device_unplugged_mid_call_keeps_transcript(pulse_audio, engine, tmp_path, capfd, backend):
    out = tmp_path / "out"
    try:
        thread, box = _run_cli(["live", "--backend", backend, "--device", "hotline_unplug", "--out", str(out)])
        _wait_for_recording(pulse_audio.spare)
        player = pulse_audio.spare.play("unplugsink", CALLER_WAV)
        time.sleep(3.0)  # most of the 4.2 s sentence has been heard
        pulse_audio.spare.unload_sink("unplugsink")
        player.kill()
        player.wait(timeout=10)
        player.stderr.close()
        thread.join(timeout=90)
        assert not thread.is_alive(), "the call did not stop when its device vanished"
    finally:
        pulse_audio.spare.restore()
    assert box["code"] == 1
    err = capfd.readouterr().err
    assert "hotline_unplug" in err
    saved = list(out.glob("call-*.json"))
    assert len(saved) == 1, "the transcript so far was not saved"
    text = json.loads(saved[0].read_text(encoding="utf-8"))["transcript"]["text"]
    assert "甚至" in text or "交易" in text, text


@pytest.mark.parametrize("device", ["nosuchmic"])
def test_cli_live_missing_device_is_a_clear_error(pulse_audio, capfd, device):
    assert cli.main(["live", "--device", device]) == 2
    err = capfd.readouterr().err
    assert "nosuchmic" in err and "available inputs" in err
