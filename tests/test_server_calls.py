"""The call websocket on fakes: a live call's events and ticket, bad frames, a closed socket, the length limit,
calls beyond max_live (recorded, drafted after hang-up), a recogniser that fails mid-call. Every call ends with
a ticket and a recording."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from test_server_fakes import SR, RunWordEngine, call_events, frames, login, make_app, speech, wait_for

ORIGIN = {"origin": "http://testserver"}


def _plain(text: str) -> str:
    return "".join(ch for ch in text if ch not in "。，,？！ ")


def _recorded(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


@pytest.fixture
def app_parts(tmp_path, ticket_builder):
    return make_app(tmp_path, ticket_builder)


@pytest.mark.parametrize("text", ["路灯坏了,我家门口的路灯"])
@pytest.mark.parametrize("decode_s", [0.0, 0.05])  # a slow decode: frames pile up and are fed as one batch
def test_server_call_live_events_and_final_ticket(tmp_path, ticket_builder, text, decode_s):
    app, store, engine = make_app(tmp_path, ticket_builder, engine=RunWordEngine(delay_s=decode_s))
    audio = speech(text)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            ready = ws.receive_json()
            assert ready["type"] == "ready" and ready["live"] is True
            for frame in frames(audio):
                ws.send_bytes(frame)
            ws.send_json({"type": "hangup"})
            events = call_events(ws)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 1000
        final = events[-1]["ticket"]
        assert events[-1]["type"] == "ticket_final" and final["id"] == ready["call_id"]
        assert final["status"] == "draft" and final["source"] == "live" and final["owner"] == "op1"
        assert _plain(final["transcript"]["text"]) == _plain(text)
        committed = [e for e in events if e["type"] == "committed"]
        assert _plain("".join(e["text"] for e in committed)) == _plain(text)
        assert all(e["speaker"] is None and e["end_s"] > e["start_s"] for e in committed)
        # each word's end, for per-word lag: ascending, the last one the event's end
        assert all(e["word_ends_s"] == sorted(e["word_ends_s"]) and e["word_ends_s"][-1] == e["end_s"] for e in committed)
        assert all(set(e) == {"type", "speaker", "text"} for e in events if e["type"] == "partial")
        assert final["fields"]["category"] and final["draft"]["category"]["value"] == final["fields"]["category"]
        assert np.array_equal(_recorded(final["audio"]), audio)  # every sample kept
        assert client.get("/api/health").json()["live_calls"] == 0
        assert [t["id"] for t in client.get("/api/tickets").json()["tickets"]] == [final["id"]]
    assert engine.calls > 0 and engine.threads == {"hotline-decode"}  # never on the event loop


@pytest.mark.parametrize("bad,code", [(b"\x01\x02\x03", 1003), (b"\x00" * 64002, 1009)])
def test_server_call_bad_frame_closes_but_the_call_gets_its_ticket(app_parts, bad, code):
    app, store, _ = app_parts
    audio = speech("路灯坏了")
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            call_id = ws.receive_json()["call_id"]
            for frame in frames(audio):
                ws.send_bytes(frame)
            ws.send_bytes(bad)
            events = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    events.append(ws.receive_json())
        assert closed.value.code == code
        errors = [e["message"] for e in events if e["type"] == "error"]
        assert len(errors) == 1 and str(len(bad)) in errors[0]
        ticket = wait_for(client, call_id)
        assert ticket["status"] == "draft" and _plain(ticket["transcript"]["text"]) == "路灯坏了"
        assert np.array_equal(_recorded(ticket["audio"]), audio)  # the bad frame is not in the recording
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:  # the server goes on serving
            assert ws.receive_json()["type"] == "ready"


@pytest.mark.parametrize("text", ["我家门口"])
def test_server_call_closed_without_hangup_still_makes_its_ticket(app_parts, text):
    app, store, _ = app_parts
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            call_id = ws.receive_json()["call_id"]
            for frame in frames(speech(text)):
                ws.send_bytes(frame)
            ws.close()
        ticket = wait_for(client, call_id)
        assert ticket["status"] == "draft" and _plain(ticket["transcript"]["text"]) == text
        assert client.get("/api/health").json()["live_calls"] == 0


@pytest.mark.parametrize("max_call_s", [2.0])
def test_server_call_past_its_length_limit_ends_as_hung_up(tmp_path, ticket_builder, max_call_s):
    app, _, _ = make_app(tmp_path, ticket_builder, max_call_s=max_call_s)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            ws.receive_json()
            for frame in frames(speech("路灯坏了路灯坏了")):  # about 4 s
                ws.send_bytes(frame)
            events = call_events(ws)
        errors = [e for e in events if e["type"] == "error"]
        assert len(errors) == 1 and "最长时长" in errors[0]["message"]
        final = events[-1]["ticket"]
        assert final["status"] == "draft" and final["duration_s"] == pytest.approx(max_call_s, abs=0.1)


@pytest.mark.parametrize("message", ['{"type": "mute"}', "hello"])
def test_server_call_unknown_text_message_is_an_error_event_and_the_call_goes_on(app_parts, message):
    app, _, _ = app_parts
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            ws.receive_json()
            ws.send_text(message)
            assert ws.receive_json()["type"] == "error"
            ws.send_json({"type": "hangup"})
            assert call_events(ws)[-1]["type"] == "ticket_final"


@pytest.mark.parametrize("text", ["路灯坏了,我家门口"])
def test_server_call_beyond_max_live_is_recorded_and_drafted_after_hangup(tmp_path, ticket_builder, text):
    app, store, _ = make_app(tmp_path, ticket_builder, max_live=1)
    audio = speech(text)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as first:
            assert first.receive_json()["type"] == "ready"
            assert client.get("/api/health").json()["live_calls"] == 1
            with client.websocket_connect("/ws/call", headers=ORIGIN) as second:
                busy = second.receive_json()
                assert busy["type"] == "busy" and busy["live"] is False and "挂断后" in busy["message"]
                for frame in frames(audio):
                    second.send_bytes(frame)
                second.send_json({"type": "hangup"})
                events = call_events(second)
            assert events == [{"type": "queued", "ticket_id": busy["call_id"]}]  # no live text for a fallback call
            ticket = wait_for(client, busy["call_id"])
            assert ticket["status"] == "draft" and ticket["source"] == "fallback"
            assert _plain(ticket["transcript"]["text"]) == _plain(text)
            assert np.array_equal(_recorded(ticket["audio"]), audio)
            listed = client.get("/api/tickets", params={"status": "draft"}).json()["tickets"]
            assert [t["id"] for t in listed] == [busy["call_id"]]
            first.send_json({"type": "hangup"})
            assert call_events(first)[-1]["type"] == "ticket_final"
        with client.websocket_connect("/ws/call", headers=ORIGIN) as third:  # the live slot is free again
            assert third.receive_json()["type"] == "ready"


@pytest.mark.parametrize("groups", [12])
def test_server_recorded_call_is_drafted_by_the_batch_path_in_pieces_cut_at_pauses(tmp_path, ticket_builder, groups):
    """A recorded call of 34 s is drafted as `hotline transcribe` drafts a file, in two scheduler jobs of at most
    28 s cut in a pause: every word once, in order (a piece cut through a word would lose or double it)."""
    app, _, engine = make_app(tmp_path, ticket_builder, max_live=0)
    text = ",".join(["路灯坏了"] * groups)
    audio = speech(text)
    assert len(audio) / SR > 28.0
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            call_id = ws.receive_json()["call_id"]
            for frame in frames(audio):
                ws.send_bytes(frame)
            ws.send_json({"type": "hangup"})
            call_events(ws)
        ticket = wait_for(client, call_id)
        stats = app.state.hotline.scheduler.stats()
    assert ticket["status"] == "draft" and _plain(ticket["transcript"]["text"]) == _plain(text)
    assert len(engine.pieces) == 2 and all(p <= 28.0 for p in engine.pieces)
    assert sum(engine.pieces) == pytest.approx(len(audio) / SR)
    assert stats.served == {f"draft-{call_id}": 2}  # one AFTER_CALL job per piece, no streamed decode


@pytest.mark.parametrize("max_live", [0])
def test_server_fallback_call_without_audio_gets_an_empty_draft(tmp_path, ticket_builder, max_live):
    app, _, _ = make_app(tmp_path, ticket_builder, max_live=max_live)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            call_id = ws.receive_json()["call_id"]
            ws.send_json({"type": "hangup"})
            call_events(ws)
        ticket = wait_for(client, call_id)
        assert ticket["status"] == "draft" and ticket["transcript"]["text"] == ""


@pytest.mark.parametrize("text", ["路灯坏了"])
def test_server_call_whose_recogniser_fails_is_drafted_from_its_recording(tmp_path, ticket_builder, text):
    engine = RunWordEngine(fail=True)
    app, _, _ = make_app(tmp_path, ticket_builder, engine=engine)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            call_id = ws.receive_json()["call_id"]
            for frame in frames(speech(text)):
                ws.send_bytes(frame)
            event = ws.receive_json()
            assert event["type"] == "error" and "decoder exploded" in event["message"]
            engine.fail = False  # the engine recovers; the recording is drafted after hang-up
            ws.send_json({"type": "hangup"})
            assert call_events(ws)[-1] == {"type": "queued", "ticket_id": call_id}
        ticket = wait_for(client, call_id)
        assert ticket["status"] == "draft" and _plain(ticket["transcript"]["text"]) == text
        assert client.get("/api/health").json()["live_calls"] == 0


@pytest.mark.parametrize("blocker", ["recordings"])
def test_server_call_that_cannot_be_recorded_is_refused_with_an_error(tmp_path, ticket_builder, blocker):
    app, store, _ = make_app(tmp_path, ticket_builder)
    with TestClient(app) as client:
        login(client, "op1")
        folder = tmp_path / "data" / blocker
        folder.rmdir()
        folder.write_text("not a folder")  # the recording cannot be created
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            event = ws.receive_json()
            assert event["type"] == "error" and blocker in event["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 1011
        assert client.get("/api/health").json()["live_calls"] == 0  # the live slot was given back
        assert client.get("/api/tickets").json()["total"] == 0
