"""Model tier: the command line end to end, in-process (`cli.main`), with the real Whisper base model.

Each `cli.main` call loads the model the way a user's run does (from $HOTLINE_MODEL_DIR or the cache).
The batch with good and broken files is run once per module and checked from several sides.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import cli
from asr.metrics import cer
from pipeline.base.types import TICKET_FIELDS

pytestmark = pytest.mark.model

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
GOOD = {  # name in the batch folder -> source clip
    "short_a.wav": "BAC009S0764W0121.wav",
    "short_b.wav": "aishell-BAC009S0724W0121.wav",
}
REFERENCE = {"BAC009S0764W0121.wav": "甚至出现交易几乎停滞的情况", "aishell-BAC009S0724W0121.wav": "广州市房地产中介协会分析"}
# bad file name -> fragment of the reason the report must give
BAD = {
    "empty.wav": "empty file (0 bytes)",
    "truncated.wav": "truncated",
    "notaudio.wav": "not a readable audio file",
    "zero_length.wav": "contains no audio samples",
}
MISSING = "missing.wav"  # given on the command line, not present
# Per file, loose: text quality is the business of test_model_asr.py. Measured 1/13 (0.077) on BAC009S0764W0121
# and 2/12 (0.167) on aishell-BAC009S0724W0121 (json, txt, srt and jsonl alike); bound 4/13, 4/12.
MAX_CER = 0.34
SEGMENT_KEYS = {"id", "start_s", "end_s", "speaker", "text"}
FIELD_KEYS = {"value", "confidence", "evidence"}
EVIDENCE_KEYS = {"segment_id", "start_char", "end_char", "text"}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """cli.main(argv) → (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def _make_batch(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, clip in GOOD.items():
        shutil.copy(SAMPLES / clip, folder / name)
    good = (SAMPLES / GOOD["short_a.wav"]).read_bytes()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(good[: len(good) // 2])
    (folder / "notaudio.wav").write_text("这不是音频文件\n", encoding="utf-8")
    sf.write(folder / "zero_length.wav", np.zeros(0, np.float32), 16000, subtype="PCM_16")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One `hotline transcribe` over a folder of good and broken files plus a missing path, JSON outputs."""
    root = tmp_path_factory.mktemp("batch")
    folder = root / "calls"
    _make_batch(folder)
    out = root / "out"
    rc, stdout, stderr = run_cli(["transcribe", str(folder), str(root / MISSING), "--out", str(out)])
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "folder": folder, "root": root, "out": out}


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _summary_row(stderr: str) -> dict[str, str]:
    """The numbers of the summary table: files, ok, skipped, failed, ..."""
    cols = ("files", "ok", "skipped", "failed")
    for line in stderr.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 7 and all(c.isdigit() for c in cells[:4]):
            return dict(zip(cols, cells[:4]))
    raise AssertionError(f"no summary table in:\n{stderr}")


@pytest.mark.parametrize("expected", [1])
def test_cli_transcribe_bad_files_exit_status(batch, expected):
    assert batch["rc"] == expected
    assert _summary_row(batch["stderr"]) == {"files": "7", "ok": "2", "skipped": "0", "failed": "5"}


@pytest.mark.parametrize("name,reason", list(BAD.items()) + [(MISSING, "no such file")])
def test_cli_transcribe_reports_each_bad_file_in_one_line(batch, name, reason):
    path = str(batch["root"] / MISSING) if name == MISSING else str(batch["folder"] / name)
    lines = [line for line in batch["stderr"].splitlines() if line.startswith("error:") and path in line]
    assert len(lines) == 1, batch["stderr"]
    assert reason in lines[0]


@pytest.mark.parametrize("expected", [{f"calls/{name}.json" for name in GOOD}])
def test_cli_transcribe_outputs_only_for_good_files(batch, expected):
    assert _files_under(batch["out"]) == expected  # no output and no temp file for the broken ones


@pytest.mark.parametrize("name", list(GOOD))
def test_cli_transcribe_json_contract(batch, name):
    doc = json.loads((batch["out"] / "calls" / f"{name}.json").read_text(encoding="utf-8"))
    assert {"audio", "duration_s", "model", "transcript", "ticket"} <= set(doc)
    assert doc["audio"] == str(batch["folder"] / name)
    assert doc["model"] == "base"
    assert doc["duration_s"] == pytest.approx(sf.info(str(SAMPLES / GOOD[name])).duration, abs=0.01)
    transcript = doc["transcript"]
    assert set(transcript) >= {"text", "segments"}
    assert transcript["segments"]
    for seg in transcript["segments"]:
        assert SEGMENT_KEYS <= set(seg)
        assert seg["speaker"] is None
        assert 0 <= seg["start_s"] <= seg["end_s"] <= doc["duration_s"]
    assert transcript["text"] == "".join(s["text"] for s in transcript["segments"])
    e, n = cer(REFERENCE[GOOD[name]], transcript["text"])
    print(f"{GOOD[name]}: CER {e}/{n} = {e / n:.3f}  {transcript['text']}")
    assert e / n <= MAX_CER
    assert set(TICKET_FIELDS) <= set(doc["ticket"])
    for field in doc["ticket"].values():
        assert FIELD_KEYS <= set(field)


@pytest.mark.parametrize("expected_skipped", [len(GOOD)])
def test_cli_transcribe_resume_skips_done_files(batch, expected_skipped):
    outputs = sorted(batch["out"].rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in outputs}
    rc, _, stderr = run_cli(["transcribe", str(batch["folder"]), "--out", str(batch["out"]), "--resume"])
    assert rc == 1  # the broken files are tried again and fail again
    row = _summary_row(stderr)
    assert row["ok"] == "0"
    assert row["skipped"] == str(expected_skipped)
    assert {p: p.stat().st_mtime_ns for p in outputs} == before


@pytest.mark.parametrize("fmt", ["txt", "srt", "jsonl"])
def test_cli_transcribe_formats(tmp_path, fmt):
    clip = "aishell-BAC009S0724W0121.wav"
    src = tmp_path / "in" / clip
    src.parent.mkdir()
    shutil.copy(SAMPLES / clip, src)
    out = tmp_path / "out"
    rc, _, stderr = run_cli(["transcribe", str(src), "--out", str(out), "--format", fmt])
    assert rc == 0, stderr
    name = "transcripts.jsonl" if fmt == "jsonl" else f"{clip}.{fmt}"
    # txt and srt have no room for the recording's path: the sources index records it (json/jsonl hold it inside)
    assert _files_under(out) == ({name} if fmt == "jsonl" else {name, ".hotline-sources.jsonl"})
    text = (out / name).read_text(encoding="utf-8")
    if fmt == "txt":
        lines = text.splitlines()
        assert lines and all(line.strip() and not line.startswith("[") for line in lines)
        said = "".join(lines)
    elif fmt == "srt":
        blocks = text.strip("\n").split("\n\n")
        said = ""
        for i, block in enumerate(blocks, 1):
            number, times, *body = block.split("\n")
            assert number == str(i)
            assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", times)
            said += "".join(body)
    else:
        lines = text.splitlines()
        assert len(lines) == 1
        doc = json.loads(lines[0])
        assert doc["audio"] == str(src)
        said = doc["transcript"]["text"]
    e, n = cer(REFERENCE[clip], said)
    print(f"{clip} as {fmt}: CER {e}/{n} = {e / n:.3f}  {said}")
    assert e / n <= MAX_CER


@pytest.mark.parametrize("channels,labels", [("operator,caller", {"operator", "caller"})])
def test_cli_transcribe_channels_label_lines(tmp_path, channels, labels):
    out = tmp_path / "out"
    argv = ["transcribe", str(SAMPLES / "call_stereo.wav"), "--out", str(out), "--format", "txt", "--channels", channels]
    rc, _, stderr = run_cli(argv)
    assert rc == 0, stderr
    lines = (out / "call_stereo.wav.txt").read_text(encoding="utf-8").splitlines()
    seen = [re.match(r"\[(\w+)\] \S", line).group(1) for line in lines]
    assert set(seen) == labels
    assert seen[0] == "operator"


@pytest.mark.parametrize("name", ["BAC009S0764W0121.wav"])
def test_cli_ticket_file_json(name):
    rc, stdout, stderr = run_cli(["ticket", str(SAMPLES / name), "--json"])
    assert rc == 0, stderr
    ticket = json.loads(stdout)
    assert set(ticket) == set(TICKET_FIELDS)
    for field in ticket.values():
        assert FIELD_KEYS <= set(field)
        assert field["value"] is None or isinstance(field["value"], str)
        assert 0.0 <= field["confidence"] <= 1.0
        for ev in field["evidence"]:
            assert EVIDENCE_KEYS <= set(ev)
            assert 0 <= ev["start_char"] <= ev["end_char"]
