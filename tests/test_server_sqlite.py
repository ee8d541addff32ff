"""The console on the real SQLite store (a temp file): a call from answer to dispatch, found again after a restart;
recordings left "processing" by a stopped server are drafted at the next start."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from pipeline.store import open_store
from test_server_fakes import _result, call_events, frames, login, make_app, speech, wait_for, wav_bytes

ORIGIN = {"origin": "http://testserver"}


def _open(path):
    return open_store(f"sqlite:///{path}", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.mark.parametrize("text,category", [("路灯坏了,我家门口", "道路维修")])
def test_server_sqlite_call_to_dispatch_survives_a_restart(tmp_path, ticket_builder, text, category):
    db = tmp_path / "db" / "tickets.sqlite"
    store = _open(db)
    app, _, _ = make_app(tmp_path, ticket_builder, store=store)
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers=ORIGIN) as ws:
            ticket_id = ws.receive_json()["call_id"]
            for frame in frames(speech(text)):
                ws.send_bytes(frame)
            ws.send_json({"type": "hangup"})
            final = call_events(ws)[-1]
        assert final["type"] == "ticket_final" and final["ticket"]["status"] == "draft"
        path = f"/api/tickets/{ticket_id}"
        changes = {"category": category, "department": "市政管理局"}
        assert client.patch(path, json={"fields": changes}).status_code == 200
        assert client.post(f"{path}/confirm").json()["status"] == "confirmed"
        assert client.post(f"{path}/dispatch").json()["status"] == "dispatched"
        login(client, "op2")
        assert client.get(path).status_code == 404
        assert client.get("/api/tickets/export.json").status_code == 403
    store.close()

    store = _open(db)  # a new server process on the same file
    app, _, _ = make_app(tmp_path, ticket_builder, store=store)
    with TestClient(app) as client:
        login(client, "boss")
        ticket = client.get(f"/api/tickets/{ticket_id}").json()
        assert ticket["status"] == "dispatched" and ticket["fields"]["category"] == category
        assert ticket["transcript"]["text"].replace("。", "").replace("，", "") == text.replace(",", "")
        assert [(e["field"], e["user"]) for e in ticket["edits"]] == [("category", "op1"), ("department", "op1")]
        found = client.get("/api/tickets", params={"q": "路灯", "status": "dispatched"}).json()
        assert [t["id"] for t in found["tickets"]] == [ticket_id]
        rows = client.get("/api/tickets/export.csv").content.decode("utf-8-sig").splitlines()
        assert len(rows) == 2 and category in rows[1]
    store.close()


@pytest.mark.parametrize("text", ["我家门口的路灯坏了"])
def test_server_sqlite_recordings_left_processing_are_drafted_at_start(tmp_path, ticket_builder, text):
    store = _open(tmp_path / "tickets.sqlite")
    app, _, _ = make_app(tmp_path, ticket_builder, store=store)  # adds the users
    op = store.get_user("op1")
    recording = tmp_path / "left.wav"
    recording.write_bytes(wav_bytes(speech(text)))
    left = store.create_ticket(op, "fallback", audio=str(recording))  # a server stopped before drafting it
    lost = store.create_ticket(op, "live", audio=str(tmp_path / "gone.wav"))
    done = store.save_draft(store.create_ticket(op, "upload").id, _result())
    with TestClient(app) as client:
        login(client, "op1")
        drafted = wait_for(client, left.id)
        assert drafted["status"] == "draft" and drafted["transcript"]["text"].rstrip("。") == text
        failed = client.get(f"/api/tickets/{lost.id}").json()
        assert failed["status"] == "failed" and "recording" in failed["error"]
        assert client.get(f"/api/tickets/{done.id}").json()["status"] == "draft"
    store.close()
