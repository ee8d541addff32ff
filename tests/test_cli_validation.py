"""Every bad option of a run is found before any work and reported on one line: `hotline: error: …`, exit 2,
naming the field, the value, what is accepted and the config file. No traceback, no Whisper loaded, no file
decoded, nothing written. Fast tier: fakes only (`no_work` fails the test if any work starts)."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import cli
from pipeline.base.errors import ConfigError
from pipeline.call import CallPipeline

RATE = 16000
TEXT = "我住在浦东新区张杨路500号，小区门口路灯坏了一个星期了，希望尽快派人来修。"


def _tone(path: Path, seconds: float = 0.5, channels: int = 1) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    mono = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, mono if channels == 1 else np.stack([mono] * channels, axis=1), RATE, subtype="PCM_16")
    return path


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hotline: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Any work (Whisper built, a recording decoded, a device opened) fails the test; the model resolves to a folder."""

    def never(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr("asr.engine.WhisperEngine", never)
    monkeypatch.setattr("pipeline.call.CallPipeline.transcribe", never)
    monkeypatch.setattr("pipeline.live.Replay.load", never)
    monkeypatch.setattr("asr.capture.open_capture", never)
    monkeypatch.setattr("pipeline.call.resolve_whisper", lambda name, root=None: tmp_path, raising=False)


# config files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,fragments",
    [
        ({"asr": 5}, ["Invalid asr=5", "an object of asr options"]),
        ([], ["Invalid config=[]"]),
        (None, ["Invalid config=None"]),
        ({"asr": {"model_dir": 5}}, ["Invalid asr.model_dir=5"]),
        ({"asr": {"vad": "false"}}, ["Invalid asr.vad='false'", "true or false"]),
        ({"asr": {"beam_size": True}}, ["Invalid asr.beam_size=True", "an integer in 1..20"]),
        ({"ticket": {"stage_config": {"summarize.structured.v1": {"what_chars": -5}}}},
         ["Invalid summarize.structured.v1.what_chars=-5", "an integer >= 10"]),
        ({"ticket": {"stage_config": {"caller.phone.v1": {"min_confidence": "0.5"}}}},
         ["Invalid caller.phone.v1.min_confidence='0.5'", "a number in 0.0..1.0"]),
        ({"ticket": {"stage_config": {"department.linear.v1": {"table": "/nope.csv"}}}},
         ["Invalid ticket.stage_config.department.linear.v1={'table': '/nope.csv'}", "Error reading table '/nope.csv'"]),
        ({"ticket": {"stage_config": {"department.linear.v1": {"colour": 1}}}}, ["Invalid department.linear.v1.colour=1"]),
        ({"ticket": {"stage_config": {"category.linear.v1": {"fallback": "false"}}}},
         ["Invalid category.linear.v1.fallback='false'", "true or false"]),
        ({"ticket": {"stage_config": {"summarize.structured.v1": {"mask_pii": 0}}}},
         ["Invalid summarize.structured.v1.mask_pii=0"]),
        ({"ticket": {"stage_config": {"summarize.transformers.v1": {"model": "/m"}}}},
         ["Invalid ticket.stage_config.summarize.transformers.v1=", "not the stage of any ticket field"]),
        ({"ticket": {"stages": {"summary": "summarize.nope.v1"}}},
         ["Invalid ticket.stages.summary='summarize.nope.v1'", "unknown stage"]),
    ],
)  # fmt: skip
def test_cli_validation_bad_config_is_one_line_naming_field_value_and_file(tmp_path, capsys, data, fragments):
    # regression: wrong shapes were tracebacks, stage options did not name the file, unused stage options were ignored
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["--config", str(config), "ticket", "--text", TEXT]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f" in {config}: " in line
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize("content", ["not json", '{"asr": '])
def test_cli_validation_unreadable_config_exits_2(tmp_path, capsys, content):
    config = tmp_path / "broken.json"
    config.write_text(content, encoding="utf-8")
    assert cli.main(["--config", str(config), "ticket", "--text", TEXT]) == 2
    assert str(config) in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("data", [{"asr": {"beam_size": 0}}])
def test_cli_validation_bad_config_found_before_any_file(tmp_path, capsys, no_work, data):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(data), encoding="utf-8")
    wav = _tone(tmp_path / "a.wav")
    assert cli.main(["--config", str(config), "transcribe", str(wav), "--out", str(tmp_path / "out")]) == 2
    assert "Invalid asr.beam_size=0" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# the run's own options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags,fragment",
    [
        (["--speed", "-1"], "Invalid --speed=-1.0: a number >= 0.0"),
        (["--speed", "nan"], "Invalid --speed=nan"),
        (["--speed", "inf"], "Invalid --speed=inf"),
        (["--hangup-silence", "-2"], "Invalid --hangup-silence=-2.0"),
        (["--endpoint-silence", "nan"], "Invalid streaming.endpoint_silence_s=nan"),
    ],
)
def test_cli_validation_replay_numbers_checked_before_whisper(tmp_path, capsys, no_work, flags, fragment):
    # regression: `replay --speed -1` was a traceback after Whisper had loaded
    wav = _tone(tmp_path / "call.wav")
    assert cli.main(["replay", str(wav), *flags, "--out", str(tmp_path / "out")]) == 2
    assert fragment in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["transcribe", "replay", "live"])
@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_cli_validation_bad_out_found_before_any_work(tmp_path, capsys, no_work, command, kind):
    # regression: a bad --out was found once per file, after decoding it (transcribe) or after the call (live/replay)
    wavs = [_tone(tmp_path / "a.wav"), _tone(tmp_path / "b.wav")]
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    out = tmp_path / "blocker" if kind == "a file" else tmp_path / "blocker" / "out"
    before = _files(tmp_path)
    args = {"transcribe": [*map(str, wavs)], "replay": [str(wavs[0]), "--speed", "0"], "live": []}[command]
    assert cli.main([command, *args, "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"Invalid --out={str(out)!r}" in line
    assert f"{str(tmp_path / 'blocker')!r} is not a folder" in line
    assert _files(tmp_path) == before


@pytest.mark.parametrize("model", ["/nonexistent/whisper-ct2"])
def test_cli_validation_missing_model_found_once_before_decoding(tmp_path, capsys, no_work, monkeypatch, model):
    # regression: a model that is not there failed every file, each after decoding it
    from models import resolve_whisper

    monkeypatch.setattr("pipeline.call.resolve_whisper", resolve_whisper, raising=False)
    wavs = [_tone(tmp_path / "a.wav"), _tone(tmp_path / "b.wav")]
    assert cli.main(["transcribe", *map(str, wavs), "--model", model, "--out", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert model in line and "does not exist" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", ["cuda"])
def test_cli_validation_missing_cuda_device_found_before_decoding(tmp_path, capsys, no_work, monkeypatch, device):
    ctranslate2 = pytest.importorskip("ctranslate2")
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    wav = _tone(tmp_path / "a.wav")
    assert cli.main(["transcribe", str(wav), "--asr-device", device, "--out", str(tmp_path / "out")]) == 2
    assert "Invalid asr.device='cuda'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("paths", [["nonexistent.wav"], ["nonexistent", "empty_folder"]])
def test_cli_validation_transcribe_nothing_found_exits_2(tmp_path, capsys, no_work, paths):
    # regression: `transcribe /nonexistent` exited 1 (README: 2 if nothing could be found)
    (tmp_path / "empty_folder").mkdir()
    assert cli.main(["transcribe", *(str(tmp_path / p) for p in paths), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{str(tmp_path / 'nonexistent' if len(paths) > 1 else tmp_path / paths[0])!r}: no such file or folder" in err


@pytest.mark.parametrize("out", ["tickets.jsonl"])
def test_cli_validation_ticket_out_needs_jsonl(tmp_path, capsys, out):
    assert cli.main(["ticket", "--text", TEXT, "--out", str(tmp_path / out)]) == 2
    assert "Invalid --out=" in _one_error_line(capsys.readouterr().err) and not (tmp_path / out).exists()


@pytest.mark.parametrize("argv", [["replay", "x.wav", "--speed", "fast"], ["transcribe", "x.wav", "--channels"]])
def test_cli_validation_argument_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "argument" in _one_error_line(capsys.readouterr().err)


# --channels -,caller -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,channels",
    [
        (["transcribe", "x.wav", "--channels", "-,caller"], "-,caller"),
        (["transcribe", "--channels", "-,caller", "x.wav"], "-,caller"),
        (["replay", "x.wav", "--channels", "-,-,caller", "--speed", "0"], "-,-,caller"),
        (["ticket", "x.wav", "--channels=-,caller"], "-,caller"),
        (["transcribe", "x.wav", "--channels", "operator,caller"], "operator,caller"),
    ],
)
def test_cli_validation_channels_value_may_start_with_dash(argv, channels):
    # regression: the README's `--channels -,caller` was read as a missing argument
    assert cli.build_parser().parse_args(argv).channels == channels


@pytest.mark.parametrize("spec,speakers", [("-,caller", ["caller"])])
def test_cli_validation_channels_skip_first_end_to_end(tmp_path, monkeypatch, fake_engine, ticket_builder, spec, speakers):
    monkeypatch.setattr("asr.engine.WhisperEngine", lambda options=None, model_path=None: fake_engine)
    monkeypatch.setattr("pipeline.call.TicketBuilder", lambda options=None: ticket_builder)
    monkeypatch.setattr("pipeline.call.resolve_whisper", lambda name, root=None: tmp_path, raising=False)
    wav = _tone(tmp_path / "stereo.wav", channels=2)
    assert cli.main(["transcribe", str(wav), "--channels", spec, "--out", str(tmp_path / "out")]) == 0
    assert [speaker for _, speaker in fake_engine.calls] == speakers


# CallPipeline.check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["new/nested/out"])
def test_cli_validation_check_leaves_nothing_behind(tmp_path, ticket_builder, out):
    CallPipeline(builder=ticket_builder).check(audio=False, out_dir=tmp_path / out)
    assert _files(tmp_path) == set()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="out_dir="):
        CallPipeline(builder=ticket_builder).check(audio=False, out_dir=tmp_path / "file" / out)


# property: whatever a config file holds, `ticket --text` drafts (0) or says why on one line (2) -----------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.test_pipeline_config import CONFIGS  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=CONFIGS)
def test_cli_validation_any_config_file_drafts_or_is_one_line(data):
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "x.json"
        config.write_text(json.dumps(data), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(["--config", str(config), "ticket", "--text", TEXT, "--json"])
    if rc == 0:
        assert json.loads(out.getvalue())["summary"] and not err.getvalue()
    else:
        assert rc == 2
        assert str(config) in _one_error_line(err.getvalue())
