"""Fakes for the server tests (an in-memory TicketStore, a WordBackend that reads "words" out of synthetic audio,
an energy VAD), the helpers that make that audio and drive the app, and a contract test that holds the fake
store to what the real SQLite store does, so tests on the fake mean something."""

from __future__ import annotations

import dataclasses
import io
import itertools
import threading
import time
import wave
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Mapping, Optional

import numpy as np
import pytest

from pipeline.base.types import Segment, Word
from pipeline.store import Edit, NotAllowed, StoredTicket, StoreError, TicketNotFound, TicketQuery, User
from pipeline.store.records import FIELDS, SOURCES, check_changes, fields_from_result, time_limit

SR = 16000
PASSWORD = "correct-horse"
# "audio" the fake engine reads: each word is WORD_S of a constant level k/10 (k = 1..9), words WORD_GAP_S apart
CHARS = {1: "路", 2: "灯", 3: "坏", 4: "了", 5: "我", 6: "家", 7: "门", 8: "口", 9: "的"}
WORD_S = 0.3
WORD_GAP_S = 0.1


class FakeStore:
    """The TicketStore protocol in memory, with the real store's rules (pipeline.store.records' helpers):
    operators see their own tickets only, a draft is confirmed, a confirmed ticket with a department is
    dispatched, edits are recorded per field and survive a redraft."""

    def __init__(self):
        self._lock = threading.RLock()
        self._users: dict[str, tuple[User, str]] = {}
        self._sessions: dict[str, tuple[User, datetime]] = {}
        self._tickets: dict[int, StoredTicket] = {}
        self._edits: list[Edit] = []
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)

    @staticmethod
    def _now() -> datetime:
        return datetime.now(timezone.utc)

    # accounts
    def add_user(self, name: str, password: str, role: str) -> User:
        with self._lock:
            if not name or name in self._users:
                raise StoreError(f"user name {name!r} is taken or empty")
            if role not in ("operator", "supervisor") or len(password) < 8:
                raise StoreError(f"bad role {role!r} or password")
            user = User(len(self._users) + 1, name, role, self._now())
            self._users[name] = (user, password)
            return user

    def verify_password(self, name: str, password: str) -> Optional[User]:
        found = self._users.get(name)
        return found[0] if found and found[1] == password else None

    def get_user(self, name: str) -> Optional[User]:
        found = self._users.get(name)
        return found[0] if found else None

    def list_users(self) -> list[User]:
        return [u for u, _ in self._users.values()]

    def create_session(self, user: User, ttl: timedelta) -> str:
        token = f"token-{next(self._tokens)}-{user.name}"
        self._sessions[token] = (user, self._now() + ttl)
        return token

    def session_user(self, token: str) -> Optional[User]:
        found = self._sessions.get(token)
        return found[0] if found and found[1] > self._now() else None

    def end_session(self, token: str) -> None:
        self._sessions.pop(token, None)

    # tickets
    def _get(self, ticket_id: int, viewer: Optional[User]) -> StoredTicket:
        t = self._tickets.get(ticket_id)
        if t is None or (viewer is not None and viewer.role != "supervisor" and t.owner != viewer.name):
            raise TicketNotFound(f"ticket {ticket_id} not found")
        return t

    def _put(self, t: StoredTicket, **changes) -> StoredTicket:
        t = dataclasses.replace(t, updated_at=self._now(), **changes)
        self._tickets[t.id] = t
        return t

    def create_ticket(self, owner: User, source: str, audio: Optional[str] = None) -> StoredTicket:
        if source not in SOURCES:
            raise StoreError(f"ticket source {source!r}")
        with self._lock:
            now = self._now()
            t = StoredTicket(next(self._ids), owner.name, source, "processing", now, now, dict.fromkeys(FIELDS), audio=audio)
            self._tickets[t.id] = t
            return t

    def save_draft(self, ticket_id: int, result: Mapping) -> StoredTicket:
        fields = fields_from_result(result)
        with self._lock:
            t = self._get(ticket_id, None)
            if t.status in ("confirmed", "dispatched"):
                raise NotAllowed(f"ticket {t.id} is {t.status}")
            edited = {e.field for e in self._edits if e.ticket_id == t.id}
            merged = {k: (t.fields[k] if k in edited else v) for k, v in fields.items()}
            return self._put(t, status="draft", fields=merged, draft=dict(result["ticket"]),
                             transcript=dict(result["transcript"]), duration_s=result.get("duration_s"), error=None)  # fmt: skip

    def fail(self, ticket_id: int, error: str) -> StoredTicket:
        with self._lock:
            t = self._get(ticket_id, None)
            if t.status in ("confirmed", "dispatched"):
                raise NotAllowed(f"ticket {t.id} is {t.status}")
            return self._put(t, status="failed", error=error)

    def get_ticket(self, ticket_id: int, viewer: User) -> StoredTicket:
        return self._get(ticket_id, viewer)

    def list_tickets(self, viewer: User, query: TicketQuery) -> tuple[list[StoredTicket], int]:
        query.check()
        now = self._now()

        def match(t: StoredTicket) -> bool:
            searched = [t.fields[k] for k in ("summary", "location", "category", "department")]
            searched.append((t.transcript or {}).get("text"))
            text = " ".join(v or "" for v in searched)
            return all((
                viewer.role == "supervisor" or t.owner == viewer.name,
                viewer.role != "supervisor" or not query.owner or t.owner == query.owner,
                not query.text or query.text in text,
                not query.status or t.status == query.status,
                not query.category or t.fields["category"] == query.category,
                not query.department or t.fields["department"] == query.department,
                not query.date_from or t.created_at.date() >= query.date_from,
                not query.date_to or t.created_at.date() <= query.date_to,
                not query.overdue or t.overdue(now),
            ))  # fmt: skip

        with self._lock:
            found = sorted((t for t in self._tickets.values() if match(t)), key=lambda t: (t.created_at, t.id), reverse=True)
        return found[query.offset : query.offset + query.limit], len(found)

    def update_fields(self, ticket_id: int, viewer: User, changes: Mapping[str, Optional[str]]) -> StoredTicket:
        values = check_changes(changes)
        with self._lock:
            t = self._get(ticket_id, viewer)
            if t.status == "dispatched":
                raise NotAllowed(f"ticket {t.id} is dispatched")
            now = self._now()
            changed = {k: v for k, v in values.items() if t.fields[k] != v}
            self._edits += [Edit(t.id, viewer.name, now, k, t.fields[k], v) for k, v in changed.items()]
            return self._put(t, fields={**t.fields, **changed}) if changed else t

    def confirm(self, ticket_id: int, viewer: User) -> StoredTicket:
        with self._lock:
            t = self._get(ticket_id, viewer)
            if t.status != "draft":
                raise NotAllowed(f"ticket {t.id} is {t.status}: only a draft can be confirmed")
            return self._put(t, status="confirmed", confirmed_at=self._now(), confirmed_by=viewer.name)

    def dispatch(self, ticket_id: int, viewer: User, now: Optional[datetime] = None) -> StoredTicket:
        with self._lock:
            t = self._get(ticket_id, viewer)
            if t.status != "confirmed":
                raise NotAllowed(f"ticket {t.id} is {t.status}: only a confirmed ticket can be dispatched")
            if not t.fields["department"]:
                raise StoreError(f"ticket {t.id} has no department: fill in field 'department' before dispatching")
            at = now or self._now()
            return self._put(t, status="dispatched", dispatched_at=at, dispatched_by=viewer.name,
                             due_at=at + time_limit(t.fields["time_limit_hours"]))  # fmt: skip

    def edits(self, ticket_id: int, viewer: User) -> list[Edit]:
        self._get(ticket_id, viewer)
        return [e for e in self._edits if e.ticket_id == ticket_id]

    def close(self) -> None:
        pass


class RunWordEngine:
    """A WordBackend that "hears" the synthetic speech of `speech()`: each run of one constant non-zero level is a
    word, CHARS[level], timed where the run is in the decoded window. Deterministic and content-based, so
    LocalAgreement sees the same words in consecutive windows. `delay_s` makes each decode take that long."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False):
        self.delay_s = delay_s
        self.fail = fail
        self.calls = 0
        self.threads: set[str] = set()  # names of the threads the decodes ran in
        self.pieces: list[float] = []  # seconds of audio of each batch decode (`transcribe`)
        self.info = type("Info", (), {"model": "fake-runs"})()

    def transcribe_words(self, samples: np.ndarray, final: bool = False, beam_size: Optional[int] = None) -> list[Word]:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("decoder exploded")
        levels = np.rint(np.abs(np.asarray(samples)) * 10).astype(int)
        words: list[Word] = []
        i, n = 0, len(levels)
        while i < n:
            if levels[i] == 0:
                i += 1
                continue
            j = i
            while j < n and levels[j] == levels[i]:
                j += 1
            if j - i >= SR // 20 and levels[i] in CHARS:  # at least 50 ms: a whole word, not a cut edge
                words.append(Word(i / SR, j / SR, CHARS[levels[i]]))
            i = j
        return words


    def transcribe(self, samples: np.ndarray, speaker: Optional[str] = None, offset_s: float = 0.0) -> Iterator[Segment]:
        """The batch decode of the same speech (after-call drafting): one segment per word, in stream time."""
        self.pieces.append(len(samples) / SR)
        for i, w in enumerate(self.transcribe_words(samples)):
            word = w.with_offset(offset_s)
            yield Segment(i, word.start_s, word.end_s, word.text, speaker, (word,))


def energy_vad(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech = non-zero samples, merged over gaps shorter than 0.2 s."""
    active = np.abs(audio) > 0.05
    out: list[tuple[float, float]] = []
    idx = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    for a, b in zip(idx[::2], idx[1::2]):
        if out and a / SR - out[-1][1] < 0.2:
            out[-1] = (out[-1][0], b / SR)
        else:
            out.append((a / SR, b / SR))
    return out


def recogniser(backend):
    """The server's recogniser factory for tests: OnlineWhisper on the scheduler backend with the energy VAD."""
    from asr.streaming import OnlineWhisper
    from pipeline.base.config import StreamingOptions

    return OnlineWhisper(backend, StreamingOptions(), vad=energy_vad)


def speech(text: str, lead_s: float = 0.5, tail_s: float = 1.0) -> np.ndarray:
    """int16 samples the fake engine hears as `text` (characters of CHARS; "," is a 1 s pause)."""
    by_char = {c: k for k, c in CHARS.items()}
    parts = [np.zeros(int(lead_s * SR))]
    for ch in text:
        if ch == ",":
            parts.append(np.zeros(SR))
            continue
        parts += [np.full(int(WORD_S * SR), by_char[ch] / 10), np.zeros(int(WORD_GAP_S * SR))]
    parts.append(np.zeros(int(tail_s * SR)))
    return (np.concatenate(parts) * 32767).round().astype("<i2")


def frames(samples: np.ndarray, frame_s: float = 0.1) -> list[bytes]:
    step = int(frame_s * SR)
    return [samples[i : i + step].tobytes() for i in range(0, len(samples), step)]


def wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def login(client, name: str, password: str = PASSWORD) -> None:
    r = client.post("/login", data={"name": name, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text


def wait_for(client, ticket_id: int, statuses=("draft", "failed"), timeout_s: float = 30.0) -> dict:
    """Poll GET /api/tickets/{id} until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(f"/api/tickets/{ticket_id}")
        assert r.status_code == 200, r.text
        if r.json()["status"] in statuses or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.05)


def call_events(ws, until=("ticket_final", "queued")) -> list[dict]:
    """Receive JSON events until one of type in `until` (inclusive)."""
    events = []
    while True:
        event = ws.receive_json()
        events.append(event)
        if event["type"] in until:
            return events


# --- the contract: the fake store behaves like the real one where the server relies on it -----------------
def _result(department: Optional[str] = "市政") -> dict:
    def f(value, **extra):
        return {"value": value, "confidence": 0.9, "evidence": [], **extra}

    ticket = {"request_type": f("投诉"), "category": f("路灯"), "department": f(department),
              "location": f("人民路", parts={"district": None, "street": None, "road": "人民路", "number": None,
                                             "compound": None, "intersection": None}),
              "urgency": f("一般", priority="P3", time_limit_hours=48.0), "caller_phone": f(None), "caller_id": f(None),
              "summary": f("路灯坏了")}  # fmt: skip
    return {"audio": None, "source": None, "duration_s": 3.0, "model": "fake",
            "transcript": {"text": "路灯坏了", "segments": []}, "ticket": ticket, "options": {}}  # fmt: skip


@pytest.fixture(params=["fake", "sqlite"])
def any_store(request, tmp_path):
    if request.param == "fake":
        yield FakeStore()
        return
    from argon2 import PasswordHasher

    from pipeline.store import open_store

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    store = open_store(f"sqlite:///{tmp_path / 'tickets.sqlite'}", hasher=cheap)
    yield store
    store.close()


@pytest.mark.parametrize("edited", ["category"])
def test_server_fakes_store_follows_the_store_contract(any_store, edited):
    store = any_store
    op = store.add_user("op1", PASSWORD, "operator")
    other = store.add_user("op2", PASSWORD, "operator")
    boss = store.add_user("boss", PASSWORD, "supervisor")
    assert store.verify_password("op1", PASSWORD) == op and store.verify_password("op1", "wrong-password") is None
    token = store.create_session(op, timedelta(hours=1))
    assert store.session_user(token) == op
    store.end_session(token)
    assert store.session_user(token) is None

    t = store.create_ticket(op, "live", audio="/x.wav")
    assert (t.status, t.owner, t.audio) == ("processing", "op1", "/x.wav")
    with pytest.raises(TicketNotFound):
        store.get_ticket(t.id, other)
    assert store.get_ticket(t.id, boss).id == t.id
    with pytest.raises(NotAllowed):
        store.confirm(t.id, op)
    t = store.save_draft(t.id, _result())
    assert (t.status, t.fields["category"], t.fields["road"], t.fields["priority"]) == ("draft", "路灯", "人民路", "P3")
    store.update_fields(t.id, op, {edited: "道路"})
    t = store.save_draft(t.id, _result())  # a redraft keeps the user's edit
    assert t.fields[edited] == "道路"
    with pytest.raises(StoreError, match="nonsense"):
        store.update_fields(t.id, op, {"nonsense": "x"})
    assert [(e.user, e.field, e.old, e.new) for e in store.edits(t.id, op)] == [("op1", edited, "路灯", "道路")]
    with pytest.raises(NotAllowed):
        store.dispatch(t.id, op)
    store.confirm(t.id, op)
    t = store.dispatch(t.id, op)
    assert t.status == "dispatched" and t.due_at - t.dispatched_at == timedelta(hours=48)
    failed = store.fail(store.create_ticket(op, "upload").id, "bad file x.mp3")
    assert (failed.status, failed.error) == ("failed", "bad file x.mp3")

    assert [x.id for x in store.list_tickets(op, TicketQuery())[0]] == [failed.id, t.id]
    assert store.list_tickets(other, TicketQuery())[1] == 0
    assert store.list_tickets(boss, TicketQuery(status="processing"))[1] == 0
    assert [x.id for x in store.list_tickets(boss, TicketQuery(text="路灯"))[0]] == [t.id]
    assert store.list_tickets(boss, TicketQuery(date_from=date.today() + timedelta(days=2)))[1] == 0
    with pytest.raises(StoreError, match="status"):
        store.list_tickets(boss, TicketQuery(status="nope"))


# --- an app on fakes ---------------------------------------------------------------------------------------
USERS = (("op1", "operator"), ("op2", "operator"), ("boss", "supervisor"))


def static_folder(root: Path) -> Path:
    """A stand-in for the page's files (the tests check routing and auth, not the page)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<!doctype html><title>console</title>", encoding="utf-8")
    (root / "login.html").write_text('<p id="login-error"><!--login-error--></p><form method="post"></form>', encoding="utf-8")
    (root / "app.js").write_text("// page", encoding="utf-8")
    return root


def make_app(tmp_path: Path, builder, store=None, engine=None, **settings):
    """(app, store, engine): the console on a fake engine and (by default) the fake store with USERS."""
    from pipeline.call import CallPipeline
    from pipeline.server import ServerSettings, create_app

    if store is None:
        store = FakeStore()
    for name, role in USERS:
        if store.get_user(name) is None:
            store.add_user(name, PASSWORD, role)
    engine = engine or RunWordEngine()
    options = dict(max_live=2, data_dir=tmp_path / "data", static_dir=static_folder(tmp_path / "static"))
    options.update(settings)
    app = create_app(ServerSettings(**options), CallPipeline(engine=engine, builder=builder), store, recogniser=recogniser)
    return app, store, engine
