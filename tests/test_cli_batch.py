"""Fast tier: batch processing (pipeline.batch.run_batch) and the CLI, with the FakeEngine and tiny generated audio.

No Whisper: CallPipeline gets the fake engine directly, and `cli.main` gets it by replacing
`asr.engine.WhisperEngine` (CallPipeline builds its engine from there on first use).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import cli
from asr.audio import find_audio_files
from pipeline.batch import JSONL_NAME, SOURCES_NAME, run_batch
from pipeline.call import CallPipeline
from pipeline.base.config import AsrOptions, PipelineConfig
from pipeline.base.errors import AudioDecodeError
from pipeline.base.types import TICKET_FIELDS, Segment

RATE = 16000
CALL_TEXT = "你好，我家门口的路灯坏了好几天了，晚上很黑。\n地址是浦东新区张杨路500号，麻烦尽快派人来修一下。"


def _tone(path: Path, seconds: float = 0.5, channels: int = 1) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    mono = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = mono if channels == 1 else np.stack([mono * (i + 1) / channels for i in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, RATE, subtype="PCM_16")
    return path


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


@pytest.fixture
def make_pipeline(ticket_builder):
    """(engine, channels) → CallPipeline sharing the session's TicketBuilder (building one loads jieba: ~1 s)."""

    def make(engine, channels=None) -> CallPipeline:
        return CallPipeline(PipelineConfig(asr=AsrOptions(channels=channels)), engine=engine, builder=ticket_builder)

    return make


@pytest.fixture
def cli_builder(monkeypatch, ticket_builder):
    """Make `cli.main` reuse the session's TicketBuilder (default options) instead of building its own."""
    monkeypatch.setattr("pipeline.call.TicketBuilder", lambda options=None: ticket_builder)
    return ticket_builder


@pytest.fixture
def cli_engine(monkeypatch, tmp_path, fake_engine, cli_builder):
    """Make `cli.main` build the fake engine instead of Whisper (and reuse the session's TicketBuilder); the
    check before work resolves no real model either."""
    monkeypatch.setattr("asr.engine.WhisperEngine", lambda options=None, model_path=None: fake_engine)
    monkeypatch.setattr("pipeline.call.resolve_whisper", lambda name, root=None: tmp_path)
    return fake_engine


# run_batch --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "txt", "srt"])
def test_batch_output_written_whole_without_temp_files(tmp_path, make_pipeline, fake_engine, fmt):
    src = _tone(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    [outcome] = run_batch(make_pipeline(fake_engine), [(src, src.parent)], out, fmt)
    assert outcome.status == "ok"
    assert outcome.output == out / f"a.wav.{fmt}"
    assert _files_under(out) == {f"a.wav.{fmt}"} | ({SOURCES_NAME} if fmt != "json" else set())
    text = outcome.output.read_text(encoding="utf-8")
    assert "测试" in text
    if fmt == "json":
        assert json.loads(text)["audio"] == str(src)
        assert json.loads(text)["source"] == str(src.resolve())
    else:  # txt and srt cannot say where they came from: the sources file does
        assert json.loads((out / SOURCES_NAME).read_text(encoding="utf-8")) == {"output": f"a.wav.{fmt}", "source": str(src.resolve())}


@pytest.mark.parametrize("error", ["disk full"])
def test_batch_failed_write_keeps_previous_output(tmp_path, make_pipeline, fake_engine, monkeypatch, error):
    src = _tone(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    out.mkdir()
    previous = json.dumps({"audio": str(src), "source": str(src.resolve())}) + "\n"
    (out / "a.wav.json").write_text(previous, encoding="utf-8")

    def replace(a, b):
        raise OSError(28, error)

    monkeypatch.setattr("pipeline.output.os.replace", replace)
    [outcome] = run_batch(make_pipeline(fake_engine), [(src, src.parent)], out, "json")
    assert outcome.status == "failed"
    assert "cannot write output" in outcome.error and error in outcome.error
    assert (out / "a.wav.json").read_text(encoding="utf-8") == previous
    assert _files_under(out) == {"a.wav.json"}  # the temp file is gone


@pytest.mark.parametrize(
    "kind,reason",
    [
        ("notaudio", "not a readable audio file"),
        ("empty", "empty file"),
        ("missing", "no such file"),
        ("engine", "decoder crashed"),
    ],
)
def test_batch_failed_file_leaves_nothing(tmp_path, make_pipeline, fake_engine, kind, reason):
    src = tmp_path / "in" / f"{kind}.wav"
    if kind == "notaudio":
        src.parent.mkdir()
        src.write_text("not audio", encoding="utf-8")
    elif kind == "empty":
        src.parent.mkdir()
        src.write_bytes(b"")
    elif kind == "engine":
        _tone(src)

        def broken(samples, speaker=None, offset_s=0.0):
            yield Segment(0, 0.0, 0.2, "半句", speaker)
            raise AudioDecodeError(src, "decoder crashed")

        fake_engine.transcribe = broken
    out = tmp_path / "out"
    for fmt in ("json", "jsonl"):
        [outcome] = run_batch(make_pipeline(fake_engine), [(src, src.parent)], out, fmt)
        assert outcome.status == "failed"
        assert reason in outcome.error
        assert "\n" not in outcome.error
        assert outcome.output is None
    assert _files_under(out) == set()


@pytest.mark.parametrize("torn", [b'{"audio": "/x/b.wav", "duration_s": 0.5, "transcr'])
def test_batch_jsonl_resume_drops_torn_last_line(tmp_path, make_pipeline, fake_engine, caplog, torn):
    a, b = _tone(tmp_path / "in" / "a.wav"), _tone(tmp_path / "in" / "b.wav")
    out = tmp_path / "out"
    out.mkdir()
    done = json.dumps({"audio": str(a), "source": str(a.resolve()), "duration_s": 0.5}) + "\n"
    (out / JSONL_NAME).write_bytes(done.encode() + torn.replace(b"/x/b.wav", str(b).encode()))
    with caplog.at_level(logging.WARNING, logger="pipeline.batch"):
        outcomes = list(run_batch(make_pipeline(fake_engine), [(a, a.parent), (b, b.parent)], out, "jsonl", resume=True))
    assert [o.status for o in outcomes] == ["skipped", "ok"]
    assert "line 2 is incomplete" in caplog.text
    lines = (out / JSONL_NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["audio"] for line in lines] == [str(a), str(b)]
    assert len(fake_engine.calls) == 1


@pytest.mark.parametrize("torn", [b'{"audio": "/x/old.wav", "dur'])
def test_batch_jsonl_append_after_torn_line_keeps_new_record(tmp_path, make_pipeline, fake_engine, caplog, torn):
    # regression: without resume, run_batch used to append straight after a torn last line, gluing the new
    # record onto it; now the torn line is cut off (and logged) first, whether resuming or not
    a = _tone(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / JSONL_NAME).write_bytes(torn)
    with caplog.at_level(logging.WARNING, logger="pipeline.batch"):
        [outcome] = run_batch(make_pipeline(fake_engine), [(a, a.parent)], out, "jsonl", resume=False)
    assert outcome.status == "ok"
    assert "line 1 is incomplete" in caplog.text
    lines = (out / JSONL_NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["audio"] for line in lines] == [str(a)]


@pytest.mark.parametrize("layout", [("a/calls/x.wav", "b/calls/x.wav")])
def test_batch_output_collision_reported(tmp_path, make_pipeline, fake_engine, layout):
    srcs = [_tone(tmp_path / rel) for rel in layout]
    files = list(find_audio_files([s.parent for s in srcs]))  # roots a/ and b/: both mirror to calls/x.wav
    out = tmp_path / "out"
    outcomes = list(run_batch(make_pipeline(fake_engine), files, out, "json"))
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert "would overwrite" in outcomes[1].error
    assert str(srcs[0]) in outcomes[1].error
    assert _files_under(out) == {"calls/x.wav.json"}
    assert json.loads((out / "calls" / "x.wav.json").read_text(encoding="utf-8"))["audio"] == str(srcs[0])
    jsonl = list(run_batch(make_pipeline(fake_engine), files, tmp_path / "out_jsonl", "jsonl"))
    assert [o.status for o in jsonl] == ["ok", "ok"]  # one shared file: no collision


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_batch_resume_skips_done_files(tmp_path, make_pipeline, fake_engine, fmt):
    srcs = [_tone(tmp_path / "in" / f"{n}.wav") for n in ("a", "b")]
    files = [(s, s.parent) for s in srcs]
    out = tmp_path / "out"
    assert [o.status for o in run_batch(make_pipeline(fake_engine), files[:1], out, fmt)] == ["ok"]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    fake_engine.calls.clear()
    outcomes = list(run_batch(make_pipeline(fake_engine), files, out, fmt, resume=True))
    assert [o.status for o in outcomes] == ["skipped", "ok"]
    assert len(fake_engine.calls) == 1  # only b was transcribed
    if fmt == "json":
        assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    else:
        lines = (out / JSONL_NAME).read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["audio"] for line in lines] == [str(s) for s in srcs]


# channels as speakers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channels,expected",
    [
        (("operator", "caller"), [("operator", "您好，请讲。"), ("caller", "路灯坏了。"), ("operator", "好的，记下了。")]),
        (("-", "caller"), [("caller", "路灯坏了。")]),
    ],
)
def test_batch_channels_merge_order_and_labels(tmp_path, make_pipeline, fake_engine, channels, expected):
    src = _tone(tmp_path / "call.wav", seconds=6.0, channels=2)
    fake_engine.script = {
        "operator": [(0.0, 1.0, "您好，请讲。"), (4.0, 5.0, "好的，记下了。")],
        "caller": [(1.5, 3.5, "路灯坏了。")],
    }
    transcript = make_pipeline(fake_engine, channels).transcribe(src)
    assert [(s.speaker, s.text) for s in transcript.segments] == expected
    assert [s.id for s in transcript.segments] == list(range(len(expected)))
    assert [s.start_s for s in transcript.segments] == sorted(s.start_s for s in transcript.segments)
    assert fake_engine.calls == [(6 * RATE, label) for label in channels if label != "-"]
    assert transcript.duration_s == pytest.approx(6.0)


@pytest.mark.parametrize("file_channels,labels", [(1, ("operator", "caller")), (2, ("a", "b", "c"))])
def test_batch_channel_count_mismatch_names_file(tmp_path, make_pipeline, fake_engine, file_channels, labels):
    src = _tone(tmp_path / "odd_call.wav", channels=file_channels)
    expected = rf"odd_call\.wav.*has {file_channels} channel\(s\) but --channels {','.join(labels)}"
    with pytest.raises(AudioDecodeError, match=expected):
        make_pipeline(fake_engine, labels).transcribe(src)
    [outcome] = run_batch(make_pipeline(fake_engine, labels), [(src, src.parent)], tmp_path / "out", "json")
    assert outcome.status == "failed"
    assert f"has {file_channels} channel(s)" in outcome.error
    assert fake_engine.calls == []


# cli transcribe ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [("empty.wav", "empty file (0 bytes)")])
def test_cli_transcribe_resume_second_run_transcribes_nothing(tmp_path, capsys, cli_engine, bad):
    folder = tmp_path / "calls"
    _tone(folder / "a.wav")
    _tone(folder / "sub" / "b.flac")
    (folder / bad[0]).write_bytes(b"")
    out = tmp_path / "out"
    fake_engine = cli_engine
    assert cli.main(["transcribe", str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [f"error: {str(folder / bad[0])!r}: {bad[1]}"]
    assert _files_under(out) == {"calls/a.wav.json", "calls/sub/b.flac.json"}
    assert len(fake_engine.calls) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    fake_engine.calls.clear()
    assert cli.main(["transcribe", str(folder), "--out", str(out), "--resume"]) == 1
    assert fake_engine.calls == []
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    rows = [line for line in capsys.readouterr().err.splitlines() if line.startswith("│")]
    assert [c.strip() for c in rows[0].split("│")[1:5]] == ["3", "0", "2", "1"]  # files, ok, skipped, failed


@pytest.mark.parametrize("with_good", [False, True])
def test_cli_transcribe_folder_without_audio(tmp_path, capsys, cli_engine, with_good):
    empty = tmp_path / "no_audio_here"
    empty.mkdir()
    (empty / "notes.txt").write_text("x", encoding="utf-8")
    argv = ["transcribe", str(empty), "--out", str(tmp_path / "out")]
    if with_good:
        argv.insert(2, str(_tone(tmp_path / "good" / "a.wav").parent))
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc != 0
    assert f"{str(empty)!r}: folder contains no audio files" in err
    assert _files_under(tmp_path / "out") == ({"good/a.wav.json"} if with_good else set())


@pytest.mark.parametrize("name", ["[bold]x.wav", "[foo]y.wav"])
def test_cli_transcribe_error_line_keeps_brackets_in_path(tmp_path, capsys, cli_engine, name):
    # regression: cli.py printed file paths as rich markup, so '[bold]' in a name vanished from the error line
    bad = tmp_path / name
    bad.write_text("not audio", encoding="utf-8")
    assert cli.main(["transcribe", str(bad), "--out", str(tmp_path / "out")]) == 1
    assert str(bad) in capsys.readouterr().err


# cli ticket --------------------------------------------------------------------------------------------------


def _check_ticket(ticket: dict, text: str) -> None:
    assert set(ticket) == set(TICKET_FIELDS)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for field in ticket.values():
        assert {"value", "confidence", "evidence"} <= set(field)
        assert 0.0 <= field["confidence"] <= 1.0
        for ev in field["evidence"]:
            assert lines[ev["segment_id"]][ev["start_char"] : ev["end_char"]] == ev["text"]


@pytest.mark.parametrize("text", [CALL_TEXT])
def test_cli_ticket_text_json(capsys, cli_builder, text):
    assert cli.main(["ticket", "--text", text, "--json"]) == 0
    ticket = json.loads(capsys.readouterr().out)
    _check_ticket(ticket, text)
    assert ticket["location"]["value"]


@pytest.mark.parametrize("text", [CALL_TEXT])
def test_cli_ticket_text_panel(capsys, cli_builder, text):
    assert cli.main(["ticket", "--text", text]) == 0
    out = capsys.readouterr().out
    assert "工单草稿" in out
    assert "诉求类型" in out and "承办部门" in out


@pytest.mark.parametrize("to_file", [False, True])
def test_cli_ticket_jsonl_bad_lines_reported(tmp_path, capsys, caplog, cli_builder, to_file):
    src = tmp_path / "messages.jsonl"
    rows = [
        json.dumps({"id": "m1", "text": CALL_TEXT}, ensure_ascii=False),
        '{"id": "m2", "text": "路灯',  # torn JSON
        json.dumps({"id": "m3"}),  # no text
        "",
        json.dumps({"id": "m5", "text": "小区门口垃圾没人清运，味道很大。"}, ensure_ascii=False),
    ]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["ticket", "--jsonl", str(src)] + (["--out", str(tmp_path / "tickets.jsonl")] if to_file else [])
    with caplog.at_level(logging.ERROR, logger="hotline"):
        assert cli.main(argv) == 1
    out = (tmp_path / "tickets.jsonl").read_text(encoding="utf-8") if to_file else capsys.readouterr().out
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["id"] for d in docs] == ["m1", "m5"]
    _check_ticket(docs[0]["ticket"], CALL_TEXT)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    assert errors[0].startswith(f"{src} line 2:")
    assert errors[1].startswith(f"{src} line 3:") and '"text"' in errors[1]


@pytest.mark.parametrize("name", ["missing.wav"])
def test_cli_ticket_bad_file_names_it(tmp_path, capsys, cli_engine, name):
    assert cli.main(["ticket", str(tmp_path / name), "--json"]) == 2
    err = capsys.readouterr().err
    assert name in err and "no such file" in err


@pytest.mark.parametrize("env", ["HOTLINE_MODEL_DIR"])
def test_cli_ticket_text_needs_no_whisper(monkeypatch, capsys, env):
    def refuse(*args, **kwargs):
        raise AssertionError("Whisper must not be loaded for typed text")

    monkeypatch.setattr("asr.engine.WhisperEngine", refuse)
    monkeypatch.setenv(env, os.devnull)  # no model anywhere
    assert cli.main(["ticket", "--text", CALL_TEXT, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["location"]


# nothing lost, nothing silently wrong: sources, interruptions, failed saves ---------------------------------


@pytest.fixture
def sigterm_guard():
    """A SIGTERM that `cli.main` fails to handle fails the test instead of killing pytest."""
    import signal

    def unhandled(signum, frame):
        raise AssertionError("SIGTERM reached the test process: cli.main did not handle it")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


class _OneWordASR:
    """Stands in for OnlineWhisper(engine, options): commits one word per step; `on_step(n)` runs at step n."""

    on_step = None

    def __init__(self, engine=None, options=None):
        self.samples = 0
        self.steps = 0

    @property
    def stream_end_s(self) -> float:
        return self.samples / RATE

    def insert_audio_chunk(self, samples):
        self.samples += len(samples)

    def process_iter(self):
        from asr.streaming import StreamUpdate
        from pipeline.base.types import Word

        self.steps += 1
        if _OneWordASR.on_step:
            _OneWordASR.on_step(self.steps)
        t = self.stream_end_s
        return StreamUpdate((Word(t - 0.05, t, "好"),))

    def finish(self):
        from asr.streaming import StreamUpdate

        return StreamUpdate((), (), True)

    def reset(self):
        self.samples = 0


@pytest.fixture
def replay_engine(monkeypatch, cli_engine):
    """`hotline replay` with the fake engine and a scripted streaming recogniser (no Whisper)."""
    monkeypatch.setattr("pipeline.live.OnlineWhisper", _OneWordASR)
    monkeypatch.setattr(_OneWordASR, "on_step", None)
    return cli_engine


@pytest.mark.parametrize("fmt,resume", [("json", True), ("json", False), ("txt", True), ("srt", False)])
def test_batch_other_recording_same_output_name_is_an_error(tmp_path, make_pipeline, fake_engine, fmt, resume):
    # regression: --resume keyed on the output name only, so d2/calls/x.wav was skipped as done (without
    # --resume it overwrote d1's result); now each output records its source and a different one is an error
    d1, d2 = _tone(tmp_path / "d1" / "calls" / "x.wav"), _tone(tmp_path / "d2" / "calls" / "x.wav", seconds=0.7)
    out = tmp_path / "out"
    target = out / "calls" / f"x.wav.{fmt}"
    [first] = run_batch(make_pipeline(fake_engine), find_audio_files([d1.parent]), out, fmt)
    assert first.status == "ok"
    before = target.read_bytes()
    fake_engine.calls.clear()
    [second] = run_batch(make_pipeline(fake_engine), find_audio_files([d2.parent]), out, fmt, resume=resume)
    assert second.status == "failed"
    assert str(target) in second.error and str(d1.resolve()) in second.error and "\n" not in second.error
    assert target.read_bytes() == before
    assert fake_engine.calls == []


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_batch_same_folder_relative_and_absolute_done_once(tmp_path, monkeypatch, make_pipeline, fake_engine, fmt):
    # regression: `calls` and `/abs/calls` were two different recordings to --resume (twice into one jsonl)
    _tone(tmp_path / "calls" / "a.wav")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert [o.status for o in run_batch(make_pipeline(fake_engine), find_audio_files(["calls"]), out, fmt)] == ["ok"]
    again = list(run_batch(make_pipeline(fake_engine), find_audio_files([str(tmp_path / "calls")]), out, fmt, resume=True))
    both = list(run_batch(make_pipeline(fake_engine), find_audio_files(["calls", str(tmp_path / "calls")]), tmp_path / "o2", fmt))
    assert [o.status for o in again] == ["skipped"]
    assert [o.status for o in both] == ["ok", "skipped"]
    assert len(fake_engine.calls) == 2
    for folder in (out, tmp_path / "o2"):
        if fmt == "jsonl":
            records = [json.loads(line) for line in (folder / JSONL_NAME).read_text(encoding="utf-8").splitlines()]
        else:
            records = [json.loads((folder / "calls" / "a.wav.json").read_text(encoding="utf-8"))]
        assert [r["source"] for r in records] == [str(tmp_path / "calls" / "a.wav")]


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_batch_resume_removes_temp_file_of_killed_write(tmp_path, make_pipeline, fake_engine, fmt):
    src = _tone(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / f".a.wav.{fmt}.k1ll3d.tmp").write_text("half an outp", encoding="utf-8")  # SIGKILL during write_atomic
    [outcome] = run_batch(make_pipeline(fake_engine), [(src, src.parent)], out, fmt, resume=True)
    assert outcome.status == "ok"
    assert _files_under(out) == {f"a.wav.{fmt}"} | ({SOURCES_NAME} if fmt == "txt" else set())


@pytest.mark.parametrize("how,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_cli_transcribe_interrupted_prints_summary_and_resume_hint(tmp_path, capsys, cli_engine, sigterm_guard, how, status):
    # regression: Ctrl-C printed only "interrupted" (no summary, no hint) and SIGTERM ended hotline silently
    import signal

    folder = tmp_path / "calls"
    for name in ("a", "b", "c"):
        _tone(folder / f"{name}.wav")
    out = tmp_path / "out"
    real = cli_engine.transcribe

    def transcribe(samples, speaker=None, offset_s=0.0):
        if len(cli_engine.calls) == 1:  # the second file: interrupted mid-decode
            os.kill(os.getpid(), getattr(signal, how))
        return real(samples, speaker, offset_s)

    cli_engine.transcribe = transcribe
    assert cli.main(["transcribe", str(folder), "--out", str(out), "--format", "json"]) == status
    err = capsys.readouterr().err
    rows = [line for line in err.splitlines() if line.startswith("│")]
    assert [c.strip() for c in rows[0].split("│")[1:5]] == ["1", "1", "0", "0"]  # files, ok, skipped, failed
    assert "interrupted; 2 files left: rerun with --resume" in err
    assert _files_under(out) == {"calls/a.wav.json"}  # b was abandoned without output
    cli_engine.transcribe = real
    cli_engine.calls.clear()
    assert cli.main(["transcribe", str(folder), "--out", str(out), "--format", "json", "--resume"]) == 0
    assert len(cli_engine.calls) == 2
    assert _files_under(out) == {f"calls/{n}.wav.json" for n in "abc"}


def _messages(path: Path, n: int) -> Path:
    rows = [json.dumps({"id": f"m{i}", "text": CALL_TEXT}, ensure_ascii=False) for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["folder", "under a file"])
def test_cli_ticket_jsonl_unwritable_out_checked_before_drafting(tmp_path, capsys, monkeypatch, cli_builder, kind):
    # regression: --out was first tried after every line was drafted; a folder gave a traceback, nothing saved
    def never(*args, **kwargs):
        raise AssertionError("drafted before checking --out")

    monkeypatch.setattr("pipeline.batch.draft_messages", never)
    out = tmp_path / "tickets.jsonl"
    if kind == "folder":
        out.mkdir()
    else:
        (tmp_path / "file").write_text("x", encoding="utf-8")
        out = tmp_path / "file" / "tickets.jsonl"
    assert cli.main(["ticket", "--jsonl", str(_messages(tmp_path / "m.jsonl", 2)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: error: cannot write") and str(out) in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("how,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_cli_ticket_jsonl_interrupted_keeps_drafted_lines(tmp_path, capsys, monkeypatch, cli_builder, sigterm_guard, how, status):
    # regression: the output was written only at the end, so an interrupted run left nothing at all
    import signal

    import pipeline.batch

    real = pipeline.batch.draft_messages

    def draft(pipe, path):
        for m in real(pipe, path):
            if m.lineno == 3:
                os.kill(os.getpid(), getattr(signal, how))
            yield m

    monkeypatch.setattr("pipeline.batch.draft_messages", draft)
    out = tmp_path / "tickets.jsonl"
    src = _messages(tmp_path / "m.jsonl", 5)
    assert cli.main(["ticket", "--jsonl", str(src), "--out", str(out)]) == status
    partial = tmp_path / "tickets.jsonl.partial"
    assert not out.exists()
    assert [json.loads(line)["id"] for line in partial.read_text(encoding="utf-8").splitlines()] == ["m0", "m1"]
    err = capsys.readouterr().err
    assert f"2 tickets saved in {str(partial)!r}" in err and "incomplete" in err
    monkeypatch.setattr("pipeline.batch.draft_messages", real)
    assert cli.main(["ticket", "--jsonl", str(src), "--out", str(out)]) == 0  # a rerun starts the .partial afresh
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == [f"m{i}" for i in range(5)]
    assert not partial.exists()


@pytest.mark.parametrize("name", ["call.wav"])
def test_cli_replay_saves_json_with_source(tmp_path, capsys, replay_engine, name):
    wav = _tone(tmp_path / name)
    assert cli.main(["replay", str(wav), "--speed", "0", "--out", str(tmp_path / "out")]) == 0
    saved = json.loads((tmp_path / "out" / f"{name}.json").read_text(encoding="utf-8"))
    assert saved["source"] == str(wav.resolve()) and "好" in saved["transcript"]["text"]


@pytest.mark.parametrize("name", ["call.wav"])
def test_cli_replay_save_failure_keeps_ticket_and_json(tmp_path, capsys, monkeypatch, replay_engine, name):
    # regression: a failed save was a traceback, and the ticket was never printed. --out itself is checked before
    # the call; here the save fails later (a folder where the file goes; a full disk or a vanished mount alike)
    import tempfile

    wav = _tone(tmp_path / name)
    out = tmp_path / "out"
    (out / f"{name}.json").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert cli.main(["replay", str(wav), "--speed", "0", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "工单草稿" in captured.out
    assert captured.err.count("hotline: error:") == 1  # (the live view leaves its last line open on a non-terminal)
    error = captured.err[captured.err.index("hotline: error:") :].splitlines()[0]
    [fallback] = list((tmp_path / "tmp").glob(f"hotline-*-{name}.json"))
    assert error.startswith("hotline: error: cannot save the call to")
    assert str(out / f"{name}.json") in error and f"saved it to {str(fallback)!r} instead" in error
    saved = json.loads(fallback.read_text(encoding="utf-8"))
    assert saved["source"] == str(wav.resolve()) and "好" in saved["transcript"]["text"]


@pytest.mark.parametrize("how,status", [("SIGINT", 0), ("SIGTERM", 143)])
def test_cli_replay_signal_ends_call_ticket_saved(tmp_path, capsys, monkeypatch, replay_engine, sigterm_guard, how, status):
    # regression: SIGTERM ended a replay (or live call) silently, without the ticket; Ctrl-C is a hang-up
    import signal

    wav = _tone(tmp_path / "call.wav", seconds=3.0)
    monkeypatch.setattr(_OneWordASR, "on_step", lambda n: n == 3 and os.kill(os.getpid(), getattr(signal, how)))
    assert cli.main(["replay", str(wav), "--speed", "0", "--out", str(tmp_path / "out")]) == status
    out = capsys.readouterr().out
    assert "工单草稿" in out and "call ended: interrupted" in out
    saved = json.loads((tmp_path / "out" / "call.wav.json").read_text(encoding="utf-8"))
    assert saved["transcript"]["text"].count("好") == 2  # the third step was interrupted
