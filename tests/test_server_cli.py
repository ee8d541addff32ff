"""`hotline serve`: options checked before anything starts (one-line errors, exit 2); in the model tier, a real
server process with the embedded Whisper base model takes a login and a call over a real socket, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import cli

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse"
MAX_CER = 0.34  # as tests/test_model_cli.py: quality is test_model_asr.py's business


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(argv)
    return rc, err.getvalue()


@pytest.mark.parametrize("argv,fragment", [(["--port", "70000"], "--port=70000"), (["--max-live", "-1"], "--max-live=-1"),
                                           (["--max-live", "x"], "--max-live"), (["--decode-workers", "0"], "--decode-workers=0")])  # fmt: skip
def test_server_cli_bad_option_is_one_line_exit_2(tmp_path, argv, fragment):
    with pytest.raises(SystemExit) if argv[-1] == "x" else contextlib.nullcontext() as raised:
        rc, err = run_cli(["serve", "--db", f"sqlite:///{tmp_path / 't.sqlite'}", "--data-dir", str(tmp_path), *argv])
    if raised is not None:
        assert raised.value.code == 2
        return
    assert rc == 2 and fragment in err and err.count("\n") == 1 and err.startswith("hotline: error:")
    assert not (tmp_path / "t.sqlite").exists()  # refused before the database was touched


@pytest.mark.model
@pytest.mark.parametrize("db", ["nonsense://nowhere"])
def test_server_cli_bad_database_is_one_line_exit_2(tmp_path, db):
    rc, err = run_cli(["serve", "--db", db, "--data-dir", str(tmp_path)])
    assert rc == 2 and "nonsense://nowhere" in err and err.count("\n") == 1


@pytest.mark.model
@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_server_cli_taken_port_is_one_line_exit_2(tmp_path, host):
    with socket.socket() as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, err = run_cli(["serve", "--host", host, "--port", str(port), "--db", f"sqlite:///{tmp_path / 't.sqlite'}",
                           "--data-dir", str(tmp_path)])  # fmt: skip
    assert rc == 2 and f"--port={port}" in err and err.count("\n") == 1


@pytest.mark.model
@pytest.mark.parametrize("clip,reference", [("BAC009S0764W0121.wav", "甚至出现交易几乎停滞的情况")])
def test_server_cli_serves_a_call_and_stops_on_sigterm(tmp_path, clip, reference):
    import httpx
    from argon2 import PasswordHasher
    from websockets.sync.client import connect

    from asr.metrics import cer
    from pipeline.store import open_store

    db = f"sqlite:///{tmp_path / 'tickets.sqlite'}"
    store = open_store(db, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    store.add_user("op1", PASSWORD, "operator")
    store.close()
    # two decode workers (CTranslate2 replicas of the one model) for one live call: the call decodes on either
    argv = ["serve", "--port", "0", "--db", db, "--data-dir", str(tmp_path / "data"), "--max-live", "1", "--decode-workers", "2"]
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), *argv], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"console on (http://[\d.]+:\d+)/", line)
        assert found, line + proc.stderr.read() if proc.poll() is not None else line
        base = found.group(1)
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/api/tickets").status_code == 401
            assert client.post("/login", data={"name": "op1", "password": PASSWORD}).status_code in (200, 303)
            token = client.cookies["hotline_session"]
            health = client.get("/api/health").json()
            assert health["ok"] is True and health["decode_workers"] == 2
            samples, sr = sf.read(REPO / "audio_samples" / clip, dtype="int16")
            assert sr == 16000
            pcm = np.concatenate([samples, np.zeros(sr, np.int16)]).astype("<i2")
            ws_url = base.replace("http://", "ws://") + "/ws/call"
            with connect(ws_url, additional_headers={"Cookie": f"hotline_session={token}", "Origin": base}) as ws:
                assert json.loads(ws.recv())["type"] == "ready"
                for i in range(0, len(pcm), 1600):
                    ws.send(pcm[i : i + 1600].tobytes())
                ws.send(json.dumps({"type": "hangup"}))
                events = []
                while not events or events[-1]["type"] != "ticket_final":
                    events.append(json.loads(ws.recv(timeout=60)))
            final = events[-1]["ticket"]
            assert final["status"] == "draft"
            errors, n = cer(reference, final["transcript"]["text"])
            assert errors / n <= MAX_CER, final["transcript"]["text"]
            # the same recording uploaded: drafted by the batch path, its pieces decoded on the scheduler
            wav = (REPO / "audio_samples" / clip).read_bytes()
            r = client.post("/api/uploads", files={"file": (clip, wav, "audio/wav")})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while (uploaded := client.get(f"/api/tickets/{r.json()['ticket_id']}").json())["status"] == "processing":
                assert time.monotonic() < deadline, "the upload was not drafted in 120 s"
                time.sleep(0.2)
            assert uploaded["status"] == "draft", uploaded.get("error")
            errors, n = cer(reference, uploaded["transcript"]["text"])
            assert errors / n <= MAX_CER, uploaded["transcript"]["text"]
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        rest = proc.stderr.read()
        assert rc == 0 and "console stopped" in rest, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
