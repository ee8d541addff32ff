"""Text ingest (pipeline.base.text) on every text path: typed text, JSONL messages, JSON config files.

Hostile input is generated (Hypothesis): unpaired surrogates, U+2028/U+0085/\\r inside JSON strings, byte order
marks, bytes that are not UTF-8, Traditional characters, personal numbers said beside someone else's.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from pipeline.base.config import PipelineConfig
from pipeline.base.privacy import id_checksum_ok, pii_spans
from pipeline.base.text import ingest_text, read_json_file, read_lines, split_records
from pipeline.batch import draft_messages
from pipeline.call import CallPipeline
from pipeline.ticket import text_transcript

# No example database in the checkout; jieba and spaCy are slow on first use, so no deadline.
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, surrogates included (st.text leaves them out unless asked).
ANY_CHAR = st.characters(exclude_categories=())
# Pieces that reach the stages' interesting paths: cues, numbers, places, Traditional characters, line breaks.
PIECES = st.sampled_from(
    ["我电话", "邻居电话", "物业的电话是", "他手机", "身份证", "13812345678", "13987654321", "310101199001011234",
     "310101199001011235", "幺三八一二三四五六七八", "021-62781234", "浦东新区张杨路500号", "新區張楊路", "路燈壞了",
     "希望尽快处理", "，", "。", "\n", "\r\n", "\u2028", "\u0085", "\ufeff", "\ud800", "\udcce\udcd2", " "]
)  # fmt: skip
HOTLINE_TEXT = st.lists(st.one_of(PIECES, st.text(ANY_CHAR, max_size=4)), max_size=12).map("".join)
VALID_TEXT = HOTLINE_TEXT.map(lambda t: t.encode("utf-8", "replace").decode("utf-8"))  # what a UTF-8 file can hold


@pytest.fixture(scope="module")
def pipeline(ticket_builder) -> CallPipeline:
    return CallPipeline(PipelineConfig(), builder=ticket_builder)


@pytest.fixture
def cli_builder(monkeypatch, ticket_builder):
    monkeypatch.setattr("pipeline.call.TicketBuilder", lambda options=None: ticket_builder)
    return ticket_builder


# ingest_text ----------------------------------------------------------------------------------------------------


@SETTINGS
@given(text=st.one_of(st.text(ANY_CHAR), HOTLINE_TEXT))
def test_text_ingest_never_raises_and_is_utf8(text):
    out = ingest_text(text)
    out.encode("utf-8")  # no surrogate left
    assert ingest_text(out) == out


@pytest.mark.parametrize(
    "text,expected,replaced",
    [
        ("\ud800路灯坏了", "\ufffd路灯坏了", 1),  # a JSON "\ud800" escape
        ("\udcce\udcd2电话13812345678", "\ufffd\ufffd电话13812345678", 2),  # GBK bytes kept by surrogateescape
        ("\ud83d\ude00", "\U0001f600", 0),  # a correct pair is the character it encodes
        ("\ufffd已有", "\ufffd已有", 0),
    ],
)
def test_text_ingest_replaces_surrogates(caplog, text, expected, replaced):
    with caplog.at_level(logging.WARNING, logger="pipeline.base.text"):
        assert ingest_text(text, where="message 'm1'") == expected
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == (1 if replaced else 0)
    if replaced:
        assert f"message 'm1': replaced {replaced} character" in warnings[0] and "路灯" not in warnings[0]
        assert "13812345678" not in warnings[0]


@pytest.mark.parametrize(
    "text,expected",
    [("新區張楊路", "新区张杨路"), ("我住在浦東新區張楊路500號", "我住在浦东新区张杨路500号"), ("e\u0301", "\u00e9"), ("", "")],
)
def test_text_ingest_simplified_nfc(text, expected):
    assert ingest_text(text) == expected


@pytest.mark.parametrize("value", [None, b"bytes", 1])
def test_text_ingest_refuses_non_str(value):
    with pytest.raises(TypeError, match=type(value).__name__):
        ingest_text(value)


# JSONL records --------------------------------------------------------------------------------------------------

MESSAGES = st.lists(st.fixed_dictionaries({"id": st.integers(), "text": st.text(ANY_CHAR)}), max_size=6)


@SETTINGS
@given(messages=MESSAGES, newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(), final=st.booleans())
def test_text_split_records_roundtrip(messages, newline, bom, final):
    data = newline.join(json.dumps(m, ensure_ascii=False) for m in messages) + (newline if final and messages else "")
    data = ("\ufeff" if bom else "") + data
    lines = split_records(data)
    assert [json.loads(line) for line in lines if line] == messages
    assert len(lines) == (len(messages) or (1 if bom else 0))


@SETTINGS
@given(
    messages=st.lists(st.fixed_dictionaries({"id": st.integers(), "text": VALID_TEXT}), max_size=6),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    bom=st.booleans(),
    bad_at=st.integers(0, 6),
)
def test_text_read_lines_roundtrip_with_a_bad_line(messages, newline, bom, bad_at):
    """Every record comes back whole, U+2028/U+0085/\\r inside its strings or not; one line that is not UTF-8 is
    one error with its line number, and the lines after it are read."""
    rows = [json.dumps(m, ensure_ascii=False).encode("utf-8") for m in messages]
    bad_at = min(bad_at, len(rows))
    rows.insert(bad_at, "路灯坏了".encode("gbk"))
    data = (b"\xef\xbb\xbf" if bom else b"") + newline.join(rows) + newline
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.jsonl"
        path.write_bytes(data)
        lines = list(read_lines(path))
    assert [line.lineno for line in lines] == list(range(1, len(rows) + 1))
    assert [line.lineno for line in lines if line.error] == [bad_at + 1]
    assert lines[bad_at].error.startswith("not valid UTF-8: byte 0xb5 at column 3")  # 路 (c2 b7) is UTF-8 too
    assert [json.loads(line.text) for line in lines if line.error is None] == messages


@pytest.mark.parametrize("mark", [b"\xff\xfe", b"\xfe\xff"])
def test_text_read_lines_refuses_utf16(tmp_path, mark):
    path = tmp_path / "m.jsonl"
    path.write_bytes(mark + '{"text": "路灯"}'.encode("utf-16-le"))
    with pytest.raises(UnicodeDecodeError, match="UTF-16"):
        list(read_lines(path))


@pytest.mark.parametrize(
    "data,expected",
    [(b'\xef\xbb\xbf{"ticket": {}}', {"ticket": {}}), (b'{"a": "\xe2\x80\xa8"}', {"a": "\u2028"}),
     ('{"a": 1}'.encode("utf-16"), {"a": 1})],
)  # fmt: skip
def test_text_read_json_file(tmp_path, data, expected):
    path = tmp_path / "c.json"
    path.write_bytes(data)
    assert read_json_file(path) == expected


@pytest.mark.parametrize("data,match", [(b"[" * 100_000, "nested too deeply"), (b'{"a": "\xd5"}', "utf-8"), (b"", "Expecting")])
def test_text_read_json_file_errors(tmp_path, data, match):
    path = tmp_path / "c.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match):
        read_json_file(path)


# draft_messages and the CLI ------------------------------------------------------------------------------------


@SETTINGS
@given(texts=st.lists(st.one_of(HOTLINE_TEXT, st.text(ANY_CHAR, max_size=30)), min_size=1, max_size=4), blank=st.booleans())
def test_batch_draft_messages_one_outcome_per_line(pipeline, texts, blank):
    rows = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]  # ASCII escapes: surrogates survive
    if blank:
        rows.insert(1, "  ")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.jsonl"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        outcomes = list(draft_messages(pipeline, path))
    assert [o.id for o in outcomes] == list(range(len(texts)))
    assert all(o.error is None and o.result is not None for o in outcomes)
    for o in outcomes:
        json.dumps(o.result.transcript.text, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "line,error",
    [
        pytest.param('{"id": "s", "text": "\\ud800我住在浦东新区张杨路500号，路灯坏了"}'.encode(), None, id="surrogate-escape"),
        pytest.param('{"id": "p", "text": "路灯坏了\u2028希望\u0085尽快修"}'.encode(), None, id="u2028-u0085"),
        pytest.param('{"id": "g", "text": "电话13812345678"}'.encode("gbk"), "not valid UTF-8: byte 0xb5 at column 22", id="gbk"),
        pytest.param(b"[" * 100_000, "not JSON", id="deep-nesting"),
        pytest.param(b'{"id": "\\udc80", "text": "x"}', '"id" \'\\udc80\' holds an unpaired surrogate', id="surrogate-id"),
        pytest.param(b'["text"]', "expected an object", id="not-object"),
        pytest.param(b'{"text": 5}', '"text" must be a string, got 5', id="text-int"),
    ],
)
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_batch_draft_messages_hostile_line(tmp_path, pipeline, line, error, bom):
    """Regression: one line with an unpaired surrogate failed the whole run and the valid lines were lost; U+2028
    and U+0085 split a record; a BOM made the first line bad."""
    good = json.dumps({"id": "ok", "text": "小区门口垃圾没人清运，味道很大。"}, ensure_ascii=False).encode()
    path = tmp_path / "m.jsonl"
    path.write_bytes(bom + good + b"\n" + line + b"\r\n" + good + b"\n")
    outcomes = list(draft_messages(pipeline, path))
    assert [o.lineno for o in outcomes] == [1, 2, 3]
    assert [o.id for o in (outcomes[0], outcomes[2])] == ["ok", "ok"] and outcomes[0].result and outcomes[2].result
    if error is None:
        assert outcomes[1].error is None and len(outcomes[1].result.transcript.segments) >= 1
    else:
        assert outcomes[1].result is None and error in outcomes[1].error


@pytest.mark.parametrize("text", ["我住在浦東新區張楊路500號，小區門口路燈壞了一個星期了，希望盡快派人來修。"])
def test_text_traditional_ticket(pipeline, text):
    """Regression: Traditional text gave the location 新區張楊路."""
    ticket = pipeline.process_text(text).ticket
    assert ticket.location.value == "浦东新区 张杨路500号"


@pytest.mark.parametrize(
    "argv_text,field,value",
    [
        # GBK bytes from a terminal Python reads as UTF-8: it keeps the undecodable ones as \udcXX (surrogateescape)
        ("我电话13812345678，路灯坏了".encode("gbk").decode("utf-8", "surrogateescape"), "caller_phone", "13812345678"),
        ("\ud800我住在浦东新区张杨路500号，路灯坏了", "location", "浦东新区 张杨路500号"),
    ],
)  # fmt: skip
def test_cli_ticket_text_undecodable_argv(capsys, cli_builder, argv_text, field, value):
    """Regression: GBK bytes from a non-UTF-8 terminal (kept as \\udcXX by Python) made `--text` fail."""
    assert cli.main(["ticket", "--text", argv_text, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[field]["value"] == value


@pytest.mark.parametrize("to_file", [False, True])
def test_cli_ticket_jsonl_hostile_lines_keep_the_others(tmp_path, capsys, caplog, cli_builder, to_file):
    src = tmp_path / "messages.jsonl"
    src.write_bytes(
        b"\xef\xbb\xbf"
        + b'{"id": "m1", "text": "\\ud800\xe8\xb7\xaf\xe7\x81\xaf\xe5\x9d\x8f\xe4\xba\x86"}\n'  # 路灯坏了 after a lone surrogate
        + '{"id": "m2", "text": "电话13812345678"}'.encode("gbk") + b"\n"
        + '{"id": "m3", "text": "路灯坏了\u2028希望尽快修"}\n'.encode()
    )  # fmt: skip
    argv = ["ticket", "--jsonl", str(src)] + (["--out", str(tmp_path / "tickets.jsonl")] if to_file else [])
    with caplog.at_level(logging.ERROR, logger="hotline"):
        assert cli.main(argv) == 1
    out = (tmp_path / "tickets.jsonl").read_text(encoding="utf-8") if to_file else capsys.readouterr().out
    assert [json.loads(line)["id"] for line in out.split("\n") if line] == ["m1", "m3"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"{src} line 2: not valid UTF-8: byte 0xb5 at column 23 (invalid start byte)"]


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
def test_cli_config_file_with_bom(tmp_path, capsys, cli_builder, bom):
    """Regression: a config file saved with a UTF-8 BOM (Windows Notepad) was refused."""
    config = tmp_path / "hotline.json"
    config.write_bytes(bom + json.dumps({"ticket": {"speakers": ["caller"]}}).encode())
    assert cli.main(["--config", str(config), "ticket", "--text", "路灯坏了", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["value"]


# the ticket builder on any ingested text -------------------------------------------------------------------------


@SETTINGS
@given(text=HOTLINE_TEXT)
def test_ticket_builder_any_text(ticket_builder, text):
    """Never raises; evidence is in the text (the builder checks); the summary's evidence shows no masked number."""
    transcript = text_transcript(text)
    ticket = ticket_builder.build(transcript)
    by_id = {s.id: s.text for s in transcript.segments}
    for ev in ticket.summary.evidence:
        assert not any(a < ev.end_char and ev.start_char < b for a, b in pii_spans(by_id[ev.segment_id]))
    assert ticket.caller_id.value is None or id_checksum_ok(ticket.caller_id.value)
