"""A confirmed ticket survives `kill -9` of the process that confirmed it (the store commits before returning)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")
pytest.importorskip("argon2")

from pipeline.base.types import CallResult, Segment, TicketDraft, TicketField, Transcript  # noqa: E402
from pipeline.output import result_to_dict  # noqa: E402
from pipeline.store import open_store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time
from pipeline.store import open_store
store = open_store(sys.argv[1])
user = store.get_user(sys.argv[2])
store.update_fields(int(sys.argv[3]), user, {"department": sys.argv[4]})
store.confirm(int(sys.argv[3]), user)
print("confirmed", flush=True)
time.sleep(120)  # killed before it gets here: nothing closes the store
"""


def _draft(text: str, department: str) -> dict:
    unknown = TicketField.unknown()
    ticket = TicketDraft(request_type=unknown, category=TicketField("城乡建设", 0.7), department=TicketField(department, 0.7),
                         location=unknown, summary=TicketField(text, 0.9), urgency=unknown)  # fmt: skip
    return result_to_dict(CallResult(None, 3.0, None, Transcript((Segment(0, 0.0, 3.0, text),), 3.0), ticket))


def _read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    return ""


@pytest.mark.parametrize("drafted,edited", [("住建委", "交通委")])
def test_store_confirmed_ticket_survives_kill_9(tmp_path, drafted, edited):
    from argon2 import PasswordHasher

    path = tmp_path / "tickets.sqlite"
    url = f"sqlite:///{path}"
    store = open_store(url, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    op = store.add_user("王芳", "correct horse", "operator")
    ticket = store.save_draft(store.create_ticket(op, "live").id, _draft("路灯坏了。", drafted))
    store.close()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, op.name, str(ticket.id), edited], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = _read_line(proc, timeout_s=60)
        assert line.strip() == "confirmed", proc.stderr.read() if proc.poll() is not None else "no answer in 60 s"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert path.with_name(path.name + "-wal").stat().st_size > 0  # the commit is in the write-ahead log, not checkpointed

    store = open_store(url)
    try:
        found = store.get_ticket(ticket.id, op)
        assert (found.status, found.confirmed_by, found.fields["department"]) == ("confirmed", "王芳", edited)
        edits = [(e.field, e.old, e.new, e.user) for e in store.edits(ticket.id, op)]
        assert edits == [("department", drafted, edited, "王芳")]
    finally:
        store.close()
