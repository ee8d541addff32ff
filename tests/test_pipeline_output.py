import json

import pytest

from pipeline.output import append_line, render, result_to_dict, write_atomic
from pipeline.base.types import CallResult, Evidence, LocationField, LocationParts, Segment, TicketDraft, TicketField, Transcript

CONTRACT_TICKET = {"request_type", "category", "department", "location", "summary", "urgency", "caller_phone", "caller_id"}


def _result():
    segs = (Segment(0, 0.0, 1.5, "您好，请讲。", "operator"), Segment(1, 1.6, 62.25, "张杨路500号路灯坏了。", "caller"))
    loc = LocationField("张杨路500号", 0.8, (Evidence(1, 0, 7, "张杨路500号"),), parts=LocationParts(road="张杨路", number="500号"))
    ticket = TicketDraft(
        request_type=TicketField("投诉", 0.6, (Evidence(1, 8, 11, "坏了。"[:3]),)),
        category=TicketField("城乡建设", 0.7, candidates=(("城乡建设", 0.7), ("交通运输", 0.2))),
        department=TicketField.unknown(),
        location=loc,
        summary=TicketField("来电人反映：张杨路500号路灯坏了。", 0.9),
        urgency=TicketField("一般", 0.5),
    )
    return CallResult("call.wav", 62.25, "base", Transcript(segs, 62.25, audio="call.wav", model="base"), ticket, (("beam_size", 5),))


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_output_json_contract(fmt):
    text = render(_result(), fmt)
    d = json.loads(text)
    assert (fmt == "jsonl") == (text.count("\n") == 1)
    assert {"audio", "duration_s", "model", "transcript", "ticket"} <= set(d)
    assert d["transcript"]["text"] == "您好，请讲。张杨路500号路灯坏了。"
    assert d["transcript"]["segments"][1] == {"id": 1, "start_s": 1.6, "end_s": 62.25, "speaker": "caller", "text": "张杨路500号路灯坏了。"}
    assert set(d["ticket"]) == CONTRACT_TICKET
    for f in d["ticket"].values():
        assert {"value", "confidence", "evidence"} <= set(f)
    assert d["ticket"]["department"]["value"] is None
    assert d["ticket"]["location"]["parts"]["road"] == "张杨路"
    assert d["ticket"]["location"]["evidence"] == [{"segment_id": 1, "start_char": 0, "end_char": 7, "text": "张杨路500号"}]
    assert d["ticket"]["category"]["candidates"][1] == {"value": "交通运输", "probability": 0.2}


@pytest.mark.parametrize(
    "fmt,expected",
    [
        ("txt", "[operator] 您好，请讲。\n[caller] 张杨路500号路灯坏了。\n"),
        ("srt", "1\n00:00:00,000 --> 00:00:01,500\n[operator] 您好，请讲。\n\n2\n00:00:01,600 --> 00:01:02,250\n[caller] 张杨路500号路灯坏了。\n\n"),
    ],
)
def test_output_text_formats(fmt, expected):
    assert render(_result(), fmt) == expected


@pytest.mark.parametrize("fmt", ["xml"])
def test_output_unknown_format(fmt):
    with pytest.raises(ValueError, match="xml"):
        render(_result(), fmt)


@pytest.mark.parametrize("name", ["a/b/out.json"])
def test_output_write_atomic_leaves_no_temp(tmp_path, name):
    target = tmp_path / name
    write_atomic(target, "一\n")
    write_atomic(target, "二\n")
    assert target.read_text(encoding="utf-8") == "二\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


@pytest.mark.parametrize("line", ["两行\n多了\n", "no newline"])
def test_output_append_line_takes_one_line(tmp_path, line):
    with pytest.raises(ValueError, match="one newline-terminated line"):
        append_line(tmp_path / "x.jsonl", line)


def test_output_result_dict_echoes_options():
    assert result_to_dict(_result())["options"] == {"beam_size": 5}


# short writes and a full disk (an injected os.write; tests/test_faults.py does it on a real full tmpfs) ----------


class _Writer:
    """Stands in for os.write: writes at most `chunk` bytes per call, and raises ENOSPC once `room` bytes are used."""

    def __init__(self, chunk: int, room: int):
        import os

        self.real, self.chunk, self.room = os.write, chunk, room

    def __call__(self, fd, data):
        import errno

        n = min(len(data), self.chunk, self.room)
        if n == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= n
        return self.real(fd, bytes(data[:n]))


@pytest.mark.parametrize("chunk", [1, 5])
def test_output_append_line_completes_short_writes(tmp_path, monkeypatch, chunk):
    # regression: append_line did one os.write and ignored its count, so a short write left a torn line
    target = tmp_path / "x.jsonl"
    monkeypatch.setattr("pipeline.output.os.write", _Writer(chunk, room=10_000))
    append_line(target, '{"a": "一二三"}\n')
    assert target.read_text(encoding="utf-8") == '{"a": "一二三"}\n'


@pytest.mark.parametrize("room", [0, 3, 14])
def test_output_append_line_disk_full_cuts_back_and_names_file(tmp_path, monkeypatch, room):
    target = tmp_path / "x.jsonl"
    target.write_text('{"old": 1}\n', encoding="utf-8")
    monkeypatch.setattr("pipeline.output.os.write", _Writer(chunk=4096, room=room))
    with pytest.raises(OSError, match=rf"No space left on device \(wrote {room} of 21 bytes\).*x\.jsonl"):
        append_line(target, '{"new": "一二三"}\n')
    assert target.read_text(encoding="utf-8") == '{"old": 1}\n'  # no torn line left behind


@pytest.mark.parametrize("room", [0, 2])
def test_output_write_atomic_disk_full_names_file_keeps_old(tmp_path, monkeypatch, room):
    target = tmp_path / "out.json"
    target.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr("pipeline.output.os.write", _Writer(chunk=4096, room=room))
    with pytest.raises(OSError, match=r"No space left on device.*out\.json"):
        write_atomic(target, "新的内容\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@pytest.mark.parametrize("name", ["[x].json", "out.json"])
def test_output_remove_stale_temps_only_of_that_file(tmp_path, name):
    from pipeline.output import remove_stale_temps

    stale, other = tmp_path / f".{name}.abc123.tmp", tmp_path / ".other.json.abc123.tmp"
    stale.write_text("half", encoding="utf-8")
    other.write_text("half", encoding="utf-8")
    remove_stale_temps(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]


@pytest.mark.parametrize("source", ["/calls/x.wav", None])
def test_output_json_records_source(source):
    assert json.loads(render(_result(), "jsonl", source))["source"] == source
    assert json.loads(render(_result(), "json", source))["audio"] == "call.wav"
