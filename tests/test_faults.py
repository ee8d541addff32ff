"""Fault injection: a full disk (a 64 KiB tmpfs), and SIGTERM, SIGINT and SIGKILL of a running `hotline transcribe`
or `hotline replay` (a child process: tests/fault_runner.py, with a slow fake Whisper). Nothing confirmed is lost,
and nothing partial passes for complete."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.base.types import TicketDraft, TicketField
from pipeline.batch import JSONL_NAME, run_batch
from pipeline.call import CallPipeline

RUNNER = Path(__file__).resolve().parent / "fault_runner.py"
RATE = 16000


def _wavs(folder: Path, names, seconds: float = 0.2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    paths = [folder / f"{n}.wav" for n in names]
    for p in paths:
        sf.write(p, tone, RATE, subtype="PCM_16")
    return paths


class _UnknownTicket:
    """A ticket builder that drafts nothing (the ticket stages are not what these tests are about)."""

    def build(self, transcript) -> TicketDraft:
        unknown = TicketField.unknown()
        return TicketDraft(unknown, unknown, unknown, unknown, unknown, unknown)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped where it cannot be mounted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` up to `leave` bytes free."""
    import os

    filler = disk / "filler"
    st = os.statvfs(disk)
    filler.write_bytes(b"x" * (st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_faults_full_disk_no_torn_output_and_reported(tmp_path, small_disk, fake_engine, fmt):
    # regression: on a nearly full disk a jsonl record was cut short (one os.write, its count ignored) and the
    # summary still said ok; now a short write is finished or cut back, and that file is reported failed
    fake_engine.script = {None: [(0.0, 0.2, "我家门口路灯坏了。" * 20)]}  # records of ~1.2 KB
    srcs = _wavs(tmp_path / "in", [f"f{i}" for i in range(8)])
    files = [(s, s.parent) for s in srcs]
    out = small_disk / "out"
    out.mkdir()
    filler = _fill(small_disk, leave=3 * 4096)
    pipe = CallPipeline(engine=fake_engine, builder=_UnknownTicket())
    outcomes = list(run_batch(pipe, files, out, fmt))
    ok = [o for o in outcomes if o.status == "ok"]
    failed = [o for o in outcomes if o.status == "failed"]
    assert ok and failed, [o.status for o in outcomes]
    assert all("No space left on device" in o.error for o in failed)
    if fmt == "jsonl":
        assert all(str(out / JSONL_NAME) in o.error for o in failed)
        records = [json.loads(line) for line in (out / JSONL_NAME).read_text(encoding="utf-8").splitlines()]
    else:
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{o.path.name}.json" for o in ok)  # no temp file left
        records = [json.loads((out / f"{o.path.name}.json").read_text(encoding="utf-8")) for o in ok]
    assert [r["source"] for r in records] == [str(o.path) for o in ok]  # complete, and only the confirmed ones
    filler.unlink()
    again = list(run_batch(pipe, files, out, fmt, resume=True))
    assert [o.status for o in again] == ["skipped"] * len(ok) + ["ok"] * len(failed)


def _start(tmp_path: Path, seconds: str, *argv: str) -> tuple[subprocess.Popen, Path]:
    marks = tmp_path / f"marks{time.monotonic_ns()}"
    marks.mkdir()
    proc = subprocess.Popen([sys.executable, str(RUNNER), str(marks), seconds, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    return proc, marks


def _wait_for(proc: subprocess.Popen, mark: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not mark.exists():
        if proc.poll() is not None:
            pytest.fail(f"hotline ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"{mark.name} never came"
        time.sleep(0.01)


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_faults_transcribe_signal_prints_summary_and_resume_hint(tmp_path, sig, status):
    srcs = _wavs(tmp_path / "calls", "abcd")
    out = tmp_path / "out"
    proc, marks = _start(tmp_path, "0,0,60", "transcribe", str(tmp_path / "calls"), "--out", str(out))
    _wait_for(proc, marks / "3")  # a and b written, c under way
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == status, err[-2000:]
    rows = [line for line in err.splitlines() if line.startswith("│")]
    assert [c.strip() for c in rows[0].split("│")[1:5]] == ["2", "2", "0", "0"]  # files, ok, skipped, failed
    assert "interrupted; 2 files left: rerun with --resume" in err
    assert sorted(p.name for p in (out / "calls").iterdir()) == ["a.wav.json", "b.wav.json"]  # c: no output
    assert [json.loads((out / "calls" / f"{s.name}.json").read_text(encoding="utf-8"))["source"] for s in srcs[:2]] == [
        str(s) for s in srcs[:2]
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_faults_transcribe_sigkill_then_resume_redoes_only_unfinished(tmp_path, fmt):
    srcs = _wavs(tmp_path / "calls", "abcde")
    argv = ["transcribe", str(tmp_path / "calls"), "--out", str(tmp_path / "out"), "--format", fmt]
    proc, marks = _start(tmp_path, "0,0,60", *argv)
    _wait_for(proc, marks / "3")
    proc.kill()
    proc.communicate(timeout=20)
    rerun, marks = _start(tmp_path, "0", *argv, "--resume")
    _, err = rerun.communicate(timeout=30)
    assert rerun.returncode == 0, err[-2000:]
    assert sorted(int(m.name) for m in marks.iterdir()) == [1, 2, 3]  # c, d and e decoded again; a and b not
    if fmt == "jsonl":
        records = [json.loads(line) for line in (tmp_path / "out" / JSONL_NAME).read_text(encoding="utf-8").splitlines()]
    else:
        assert sorted(p.name for p in (tmp_path / "out" / "calls").iterdir()) == [f"{s.name}.json" for s in srcs]
        records = [json.loads((tmp_path / "out" / "calls" / f"{s.name}.json").read_text(encoding="utf-8")) for s in srcs]
    assert sorted(r["source"] for r in records) == [str(s) for s in srcs]  # each exactly once, each complete


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143)])
def test_faults_replay_sigterm_prints_and_saves_ticket(tmp_path, sig, status):
    [wav] = _wavs(tmp_path, ["call"], seconds=3.0)
    out = tmp_path / "out"
    proc, marks = _start(tmp_path, "0,0,60", "replay", str(wav), "--speed", "0", "--out", str(out))
    _wait_for(proc, marks / "3")  # two words committed, the third step under way
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=20)
    assert proc.returncode == status, err[-2000:]
    assert "工单草稿" in stdout and f"saved {out / 'call.wav.json'}" in stdout
    saved = json.loads((out / "call.wav.json").read_text(encoding="utf-8"))
    assert saved["transcript"]["text"].count("好") == 2 and saved["source"] == str(wav)
