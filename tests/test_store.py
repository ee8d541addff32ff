"""The ticket store (pipeline.store) on a SQLite file in tmp_path: migrations, accounts, login sessions, tickets
with their draft, edits, confirm and dispatch, search and filters, who sees what, threads writing at once.
(`kill -9`: test_store_kill.py; `hotline users`: test_store_cli.py.)"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")
pytest.importorskip("argon2")

from pipeline.base.types import (  # noqa: E402
    CallResult, Evidence, LocationField, LocationParts, Segment, TicketDraft, TicketField, Transcript, UrgencyField,
)  # fmt: skip
from pipeline.output import result_to_dict  # noqa: E402
from pipeline.store import (  # noqa: E402
    FIELDS, NotAllowed, StoreError, TicketNotFound, TicketQuery, User, default_db_url, open_store,
)  # fmt: skip

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse"


def cheap_hasher():
    """Real argon2id at the lowest cost: the default takes up to half a second a hash on 2 cores."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class FakeClock:
    """The store's clock, moved by hand."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def call_result(text: str = "张杨路500号的路灯坏了，晚上很黑。", summary: str = "来电人反映：张杨路500号路灯坏了。",
                category: str = "城乡建设", department: str = "住建委", hours: float = 48.0,
                place: tuple[str, str, str] = ("浦东新区", "张杨路", "500号")) -> CallResult:  # fmt: skip
    """A drafted call as the pipeline makes it (the same types), with a location and an urgency."""
    segs = (Segment(0, 0.0, 1.5, "您好，请讲。", "operator"), Segment(1, 1.6, 9.0, text, "caller"))
    district, road, number = place
    loc = LocationField("".join(place), 0.8, (Evidence(1, 0, 7, text[:7]),),
                        parts=LocationParts(district=district, road=road, number=number, raw=road + number))  # fmt: skip
    ticket = TicketDraft(
        request_type=TicketField("投诉", 0.6),
        category=TicketField(category, 0.7, candidates=((category, 0.7), ("交通运输", 0.2))),
        department=TicketField(department, 0.7),
        location=loc,
        summary=TicketField(summary, 0.9),
        urgency=UrgencyField("一般", 0.5, priority="P3", time_limit_hours=hours),
        caller_phone=TicketField("13812345678", 0.95),
    )
    return CallResult("call.wav", 9.0, "base", Transcript(segs, 9.0, audio="call.wav", model="base"), ticket)


def drafted(result: CallResult) -> dict:
    return json.loads(json.dumps(result_to_dict(result), ensure_ascii=False))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'tickets.sqlite'}"


@pytest.fixture
def store(db_url, clock):
    s = open_store(db_url, clock=clock, hasher=cheap_hasher())
    yield s
    s.close()


@pytest.fixture
def people(store) -> dict[str, User]:
    return {
        "op": store.add_user("王芳", PASSWORD, "operator"),
        "op2": store.add_user("李强", PASSWORD, "operator"),
        "sup": store.add_user("陈主管", PASSWORD, "supervisor"),
    }


def draft_ticket(store, owner: User, result: CallResult | None = None, source: str = "live"):
    t = store.create_ticket(owner, source, audio="/rec/1.wav")
    return store.save_draft(t.id, drafted(result or call_result()))


# --- schema -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opens", [2])
def test_store_migration_makes_exactly_the_models_tables_and_reopens(db_url, clock, opens):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from pipeline.store.tables import Base, TicketRow

    s = open_store(db_url, clock=clock, hasher=cheap_hasher())
    u = s.add_user("alice", PASSWORD, "operator")
    s.close()
    for _ in range(opens):  # a second open is a no-op upgrade that keeps the data
        s = open_store(db_url, clock=clock)
        with s.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert set(inspect(conn).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0001"]
        assert s.get_user("alice") == u
        s.close()
    assert set(FIELDS) <= set(TicketRow.__table__.columns.keys())


@pytest.mark.parametrize("pragma,expected", [("journal_mode", "wal"), ("synchronous", 2), ("foreign_keys", 1),
                                             ("busy_timeout", 30000)])  # fmt: skip
def test_store_sqlite_pragmas_on_every_connection(store, pragma, expected):
    conns = [store.engine.connect() for _ in range(2)]  # two pooled connections, each set up on connect
    try:
        for conn in conns:
            assert conn.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize("url,fragment", [
    ("not a url", "bad database URL 'not a url'"),
    ("nosuchdb://x/y", "nosuchdb://x/y"),
    ("sqlite:////proc/hotline-nope/t.sqlite", "/proc/hotline-nope/t.sqlite"),
    ("sqlite://", "in-memory SQLite is not supported"),
])  # fmt: skip
def test_store_open_errors_name_the_url(url, fragment):
    with pytest.raises(StoreError, match=fragment):
        open_store(url)


@pytest.mark.parametrize("revision", ["9999"])
def test_store_open_a_database_of_a_newer_hotline(db_url, revision):
    open_store(db_url).close()
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    with raw:
        raw.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    raw.close()
    with pytest.raises(StoreError, match=f"tickets.sqlite.*'{revision}'"):
        open_store(db_url)


@pytest.mark.parametrize("stores", [4])
def test_store_new_database_opened_by_several_at_once(db_url, stores):
    opened, errors = [], []

    def open_one() -> None:
        try:
            opened.append(open_store(db_url))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=open_one) for _ in range(stores)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    for s in opened:
        s.close()
    assert not errors and len(opened) == stores


@pytest.mark.parametrize("name", ["tickets.sqlite"])
def test_store_default_db_url_is_a_file_in_the_user_data_folder(name):
    url = default_db_url()
    assert url.startswith("sqlite:///") and url.endswith(name) and "hotline" in url


@pytest.mark.parametrize("content", [b"this is not a database, just some text" * 100])
def test_store_open_a_file_that_is_not_a_database(tmp_path, content):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="notes.sqlite"):
        open_store(f"sqlite:///{path}")


# --- accounts -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,password,role,fragment", [
    ("王芳", PASSWORD, "operator", "'王芳' is taken"),
    (" 王芳 ", PASSWORD, "operator", "'王芳' is taken"),
    ("new", PASSWORD, "admin", "role 'admin'"),
    ("new", "pw-1234", "operator", "password too short: 7 characters"),
    ("", PASSWORD, "operator", "must not be empty"),
    ("two words", PASSWORD, "operator", "no spaces"),
])  # fmt: skip
def test_store_add_user_refuses(store, people, name, password, role, fragment):
    with pytest.raises(StoreError, match=fragment) as err:
        store.add_user(name, password, role)
    assert password not in str(err.value)


@pytest.mark.parametrize("name,password,ok", [("王芳", PASSWORD, True), ("王芳", "wrong password", False),
                                              ("nobody", PASSWORD, False), ("王芳", "", False)])  # fmt: skip
def test_store_verify_password(store, people, name, password, ok):
    user = store.verify_password(name, password)
    assert (user == people["op"]) if ok else user is None


@pytest.mark.parametrize("name", ["王芳"])
def test_store_keeps_only_an_argon2_hash(store, people, db_url, name):
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        (hashed,) = raw.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
    finally:
        raw.close()
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert [u.name for u in store.list_users()] == sorted(u.name for u in people.values())
    assert store.get_user(name).role == "operator" and store.get_user("nobody") is None


# --- login sessions -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ttl_h", [12])
def test_store_sessions_create_lookup_expire_end(store, people, clock, db_url, ttl_h):
    op = people["op"]
    token = store.create_session(op, timedelta(hours=ttl_h))
    other = store.create_session(op, timedelta(hours=ttl_h))
    assert token != other and len(token) >= 40
    assert store.session_user(token) == op
    assert store.session_user("not-a-token") is None and store.session_user("") is None
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        stored = {h for (h,) in raw.execute("SELECT token_hash FROM login_sessions")}
    finally:
        raw.close()
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (token, other)}
    store.end_session(other)
    assert store.session_user(other) is None and store.session_user(token) == op
    clock.advance(hours=ttl_h, seconds=-1)
    assert store.session_user(token) == op
    clock.advance(seconds=1)
    assert store.session_user(token) is None


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(hours=-1), 12])
def test_store_session_ttl_must_be_positive(store, people, ttl):
    with pytest.raises(StoreError, match="ttl"):
        store.create_session(people["op"], ttl)


# --- tickets: draft, edits, confirm, dispatch ---------------------------------------------------------------------
@pytest.mark.parametrize("source", ["live", "fallback", "upload"])
def test_store_ticket_create_then_draft(store, people, clock, source):
    t = store.create_ticket(people["op"], source, audio="/rec/1.wav")
    assert (t.status, t.owner, t.source, t.audio, t.created_at) == ("processing", "王芳", source, "/rec/1.wav", T0)
    assert set(t.fields) == set(FIELDS) and not any(t.fields.values())
    clock.advance(minutes=3)
    result = drafted(call_result())
    d = store.save_draft(t.id, result)
    assert d.status == "draft" and d.updated_at == T0 + timedelta(minutes=3) and d.created_at == T0
    assert d.draft == result["ticket"] and d.transcript == result["transcript"] and d.duration_s == 9.0
    assert d.fields == {
        "request_type": "投诉", "category": "城乡建设", "department": "住建委", "location": "浦东新区张杨路500号",
        "district": "浦东新区", "street": None, "road": "张杨路", "number": "500号", "compound": None, "intersection": None,
        "summary": "来电人反映：张杨路500号路灯坏了。", "urgency": "一般", "priority": "P3", "time_limit_hours": "48",
        "caller_phone": "13812345678", "caller_id": None,
    }  # fmt: skip
    assert store.get_ticket(t.id, people["op"]) == d
    json.dumps(d.to_dict())  # JSON-ready
    assert d.to_dict()["created_at"] == "2025-03-01T08:00:00+00:00" and "transcript" not in d.to_dict(full=False)


@pytest.mark.parametrize("text", ["我家楼下的下水道堵了，污水漫到路上，请尽快派人疏通。我的电话是13912345678。"])
def test_store_drafts_what_the_pipeline_makes(store, people, ticket_builder, text):
    from pipeline.ticket import text_transcript

    transcript = text_transcript(text)  # what CallPipeline.process_text drafts, on the session's shared builder
    result = result_to_dict(CallResult(None, transcript.duration_s, None, transcript, ticket_builder.build(transcript)))
    t = store.save_draft(store.create_ticket(people["op"], "upload").id, result)
    assert t.status == "draft" and t.transcript["text"] == text and t.fields["caller_phone"] == "13912345678"
    assert t.fields["category"] == result["ticket"]["category"]["value"]
    assert store.list_tickets(people["op"], TicketQuery(text="下水道"))[1] == 1


@pytest.mark.parametrize("result,fragment", [({}, "'ticket'"), ({"ticket": {"category": {}}}, "ticket.request_type"),
                                             ({**drafted(call_result()), "transcript": None}, "'transcript'")])  # fmt: skip
def test_store_save_draft_refuses_what_is_not_a_draft(store, people, result, fragment):
    t = store.create_ticket(people["op"], "live")
    with pytest.raises(StoreError, match=fragment):
        store.save_draft(t.id, result)


@pytest.mark.parametrize("changes", [{"category": "交通运输", "road": "  张江路 ", "summary": ""}])
def test_store_edits_record_who_when_old_new(store, people, clock, changes):
    op = people["op"]
    t = draft_ticket(store, op)
    clock.advance(minutes=5)
    e = store.update_fields(t.id, op, changes)
    assert (e.fields["category"], e.fields["road"], e.fields["summary"]) == ("交通运输", "张江路", None)
    assert e.updated_at == T0 + timedelta(minutes=5) and e.draft == t.draft  # the draft as drafted stays
    same = store.update_fields(t.id, op, {"category": "交通运输"})  # no change, no edit
    assert same.updated_at == e.updated_at
    edits = store.edits(t.id, op)
    assert [(x.field, x.old, x.new, x.user, x.at) for x in edits] == [
        ("category", "城乡建设", "交通运输", "王芳", T0 + timedelta(minutes=5)),
        ("road", "张杨路", "张江路", "王芳", T0 + timedelta(minutes=5)),
        ("summary", "来电人反映：张杨路500号路灯坏了。", None, "王芳", T0 + timedelta(minutes=5)),
    ]  # fmt: skip
    assert edits[0].to_dict()["at"] == "2025-03-01T08:05:00+00:00"


@pytest.mark.parametrize("changes,fragment", [
    ({"colour": "red"}, "unknown ticket field 'colour'"),
    ({"category": 5}, "field 'category': expected text"),
    ({"time_limit_hours": "soon"}, "time_limit_hours='soon'"),
    ({"summary": "长" * 10_001}, "field 'summary': 10001 characters"),
])  # fmt: skip
def test_store_update_fields_errors_name_the_field(store, people, changes, fragment):
    t = draft_ticket(store, people["op"])
    with pytest.raises(StoreError, match=fragment):
        store.update_fields(t.id, people["op"], changes)
    assert store.edits(t.id, people["op"]) == []


@pytest.mark.parametrize("department", ["交通委"])
def test_store_a_later_draft_keeps_edited_fields(store, people, department):
    op = people["op"]
    t = store.create_ticket(op, "live")
    store.update_fields(t.id, op, {"department": department})  # edited during the call, before any draft is saved
    d = store.save_draft(t.id, drafted(call_result(category="环境保护", department="生态环境局")))
    assert (d.fields["department"], d.fields["category"], d.fields["road"]) == (department, "环境保护", "张杨路")
    store.update_fields(t.id, op, {"road": None})  # cleared: an edit too
    d2 = store.save_draft(t.id, drafted(call_result(category="交通运输", department="市场监管局")))
    assert (d2.fields["department"], d2.fields["category"], d2.fields["road"]) == (department, "交通运输", None)
    assert d2.draft["department"]["value"] == "市场监管局" and d2.draft["location"]["parts"]["road"] == "张杨路"


@pytest.mark.parametrize("hours,expected", [("48", timedelta(hours=48)), (None, timedelta(hours=24)),
                                            ("1.5", timedelta(minutes=90))])  # fmt: skip
def test_store_confirm_then_dispatch(store, people, clock, hours, expected):
    op = people["op"]
    t = store.create_ticket(op, "live")
    with pytest.raises(NotAllowed, match="processing: only a draft can be confirmed"):
        store.confirm(t.id, op)
    t = store.save_draft(t.id, drafted(call_result()))
    store.update_fields(t.id, op, {"time_limit_hours": hours})
    with pytest.raises(NotAllowed, match="only a confirmed ticket can be dispatched"):
        store.dispatch(t.id, op)
    clock.advance(minutes=1)
    c = store.confirm(t.id, op)
    assert (c.status, c.confirmed_by, c.confirmed_at) == ("confirmed", "王芳", T0 + timedelta(minutes=1))
    with pytest.raises(NotAllowed, match="confirmed: only a draft"):
        store.confirm(t.id, op)
    with pytest.raises(NotAllowed, match="draft can no longer be replaced"):
        store.save_draft(t.id, drafted(call_result()))
    with pytest.raises(NotAllowed, match="cannot be marked failed"):
        store.fail(t.id, "late failure")
    store.update_fields(t.id, op, {"summary": "确认后补充的摘要"})  # still editable once confirmed
    at = T0 + timedelta(hours=2)
    d = store.dispatch(t.id, op, now=at)
    assert (d.status, d.dispatched_at, d.dispatched_by, d.due_at) == ("dispatched", at, "王芳", at + expected)
    assert not d.overdue(at + expected) and d.overdue(at + expected + timedelta(seconds=1))
    with pytest.raises(NotAllowed, match="dispatched: its fields can no longer be edited"):
        store.update_fields(t.id, op, {"summary": "x"})
    with pytest.raises(NotAllowed, match="dispatched"):
        store.dispatch(t.id, op)


@pytest.mark.parametrize("department", [None])
def test_store_dispatch_needs_a_department(store, people, department):
    op = people["op"]
    t = draft_ticket(store, op)
    store.update_fields(t.id, op, {"department": department})
    store.confirm(t.id, op)
    with pytest.raises(StoreError, match="no department: fill in field 'department'"):
        store.dispatch(t.id, op)
    assert store.get_ticket(t.id, op).status == "confirmed"


@pytest.mark.parametrize("error", ["Error reading audio '/rec/9.wav': not an audio file"])
def test_store_fail_keeps_the_reason(store, people, error):
    t = store.create_ticket(people["op"], "upload", audio="/rec/9.wav")
    f = store.fail(t.id, error)
    assert (f.status, f.error) == ("failed", error)
    assert store.save_draft(t.id, drafted(call_result())).error is None  # drafted again later


@pytest.mark.parametrize("ticket_id,error,fragment", [(999, TicketNotFound, "ticket 999 not found"),
                                                      ("1", StoreError, "ticket id '1': expected an integer"),
                                                      (True, StoreError, "ticket id True")])  # fmt: skip
def test_store_missing_or_bad_ticket_id(store, people, ticket_id, error, fragment):
    with pytest.raises(error, match=fragment):
        store.get_ticket(ticket_id, people["sup"])


# --- search, filters, visibility ----------------------------------------------------------------------------------
@pytest.fixture
def desk(store, people, clock):
    """Four tickets over three days: two of 王芳's, one of 李强's, one still processing."""
    made = {}
    made["lamp"] = draft_ticket(store, people["op"], call_result())  # day 1 08:00
    clock.advance(days=1)
    made["noise"] = draft_ticket(store, people["op"], call_result(
        text="隔壁工地半夜施工，噪音太大，睡不着。", summary="来电人反映：工地夜间施工噪音扰民。", category="环境保护",
        department="生态环境局", hours=24, place=("闵行区", "沪闵路", "100号")))  # fmt: skip
    clock.advance(days=1)
    made["sewer"] = draft_ticket(store, people["op2"], call_result(
        text="小区下水道堵塞，污水外溢100%严重。", summary="来电人反映：下水道堵塞。", category="城乡建设",
        department="水务局、漕河泾街道",
        place=("徐汇区", "漕溪北路", "8号")))  # fmt: skip
    made["busy"] = store.create_ticket(people["op2"], "fallback")
    return made


def _ids(store, viewer, **query):
    tickets, total = store.list_tickets(viewer, TicketQuery(**query))
    assert total >= len(tickets)
    return [t.id for t in tickets]


@pytest.mark.parametrize("query,expected", [
    ({}, ["busy", "sewer", "noise", "lamp"]),  # newest first
    ({"text": "路灯"}, ["lamp"]),  # summary and transcript
    ({"text": "张杨"}, ["lamp"]),  # part of a word: substring, not tokens
    ({"text": "睡不着"}, ["noise"]),  # only in the transcript
    ({"text": "100%"}, ["sewer"]),  # % is literal
    ({"text": "%"}, ["sewer"]),
    ({"text": "生态环境"}, ["noise"]),  # department
    ({"status": "processing"}, ["busy"]),
    ({"category": "城乡建设"}, ["sewer", "lamp"]),
    ({"department": "水务局"}, ["sewer"]),  # the functional department of 水务局、漕河泾街道
    ({"department": "漕河泾街道"}, ["sewer"]),  # its local unit
    ({"department": "水务"}, []),  # a unit, not a substring
    ({"department": "生态环境局"}, ["noise"]),
    ({"date_from": date(2025, 3, 2)}, ["busy", "sewer", "noise"]),
    ({"date_to": date(2025, 3, 2)}, ["noise", "lamp"]),
    ({"date_from": date(2025, 3, 2), "date_to": date(2025, 3, 2)}, ["noise"]),
    ({"owner": "李强"}, ["busy", "sewer"]),
    ({"text": "路灯", "category": "环境保护"}, []),
    ({"limit": 2, "offset": 1}, ["sewer", "noise"]),
])  # fmt: skip
def test_store_search_and_filters(store, people, desk, query, expected):
    assert _ids(store, people["sup"], **query) == [desk[name].id for name in expected]


@pytest.mark.parametrize("limit", [2])
def test_store_list_total_counts_every_match(store, people, desk, limit):
    tickets, total = store.list_tickets(people["sup"], TicketQuery(limit=limit))
    assert len(tickets) == limit and total == 4


@pytest.mark.parametrize("query,fragment", [
    (TicketQuery(status="closed"), "unknown status 'closed'"),
    (TicketQuery(limit=0), "limit=0"),
    (TicketQuery(offset=-1), "offset=-1"),
    (TicketQuery(date_from=date(2025, 3, 5), date_to=date(2025, 3, 1)), "date_from=2025-03-05 is after"),
])  # fmt: skip
def test_store_list_bad_filters(store, people, query, fragment):
    with pytest.raises(StoreError, match=fragment):
        store.list_tickets(people["sup"], query)


@pytest.mark.parametrize("hours", [24])
def test_store_overdue(store, people, desk, clock, hours):
    op, op2 = people["op"], people["op2"]
    for name, owner in (("lamp", op), ("noise", op), ("sewer", op2)):
        store.confirm(desk[name].id, owner)
    at = clock.now
    store.dispatch(desk["noise"].id, op, now=at)  # due in 24 h
    store.dispatch(desk["lamp"].id, op, now=at)  # due in 48 h
    assert _ids(store, people["sup"], overdue=True) == []
    clock.advance(hours=hours, seconds=1)
    assert _ids(store, people["sup"], overdue=True) == [desk["noise"].id]
    assert _ids(store, op2, overdue=True) == []  # 李强's view
    row = store.get_ticket(desk["noise"].id, op).to_dict(now=clock.now)
    assert row["overdue"] is True and row["status_label"] == "已派单"


@pytest.mark.parametrize("viewer,sees", [("op", ["noise", "lamp"]), ("op2", ["busy", "sewer"]),
                                         ("sup", ["busy", "sewer", "noise", "lamp"])])  # fmt: skip
def test_store_operators_see_only_their_own(store, people, desk, viewer, sees):
    user = people[viewer]
    assert _ids(store, user) == [desk[n].id for n in sees]
    own = [desk["noise"].id, desk["lamp"].id] if viewer == "sup" else [desk[n].id for n in sees]
    assert _ids(store, user, owner="王芳") == own  # an operator's `owner` filter is ignored
    for name, ticket in desk.items():
        if name in sees:
            assert store.get_ticket(ticket.id, user).id == ticket.id
            continue
        for call in (lambda: store.get_ticket(ticket.id, user), lambda: store.edits(ticket.id, user),
                     lambda: store.update_fields(ticket.id, user, {"summary": "改"}), lambda: store.confirm(ticket.id, user),
                     lambda: store.dispatch(ticket.id, user)):  # fmt: skip
            with pytest.raises(TicketNotFound, match=f"ticket {ticket.id} not found"):
                call()
    assert all(not store.edits(t.id, people["sup"]) for t in desk.values())  # nothing was changed


@pytest.mark.parametrize("threads,edits_each", [(4, 8)])
def test_store_threads_write_at_once(store, people, threads, edits_each):
    op = people["op"]
    tickets = [draft_ticket(store, op) for _ in range(threads)]
    errors: list[BaseException] = []

    def work(ticket_id: int) -> None:
        try:
            for i in range(edits_each):
                store.update_fields(ticket_id, op, {"summary": f"第{i}次修改"})
                store.update_fields(tickets[0].id, op, {"compound": f"{ticket_id}-{i}"})  # all threads on one ticket too
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(t.id,)) for t in tickets]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors
    for t in tickets[1:]:
        assert len(store.edits(t.id, op)) == edits_each
    shared = [e for e in store.edits(tickets[0].id, op) if e.field == "compound"]
    assert len(shared) == threads * edits_each
    assert [e.old for e in shared[1:]] == [e.new for e in shared[:-1]]  # each edit saw the one before it


@pytest.mark.parametrize("module", ["pipeline.store", "pipeline.store.records", "pipeline.store.sql", "pipeline.store.accounts",
                                    "pipeline.store.tables"])  # fmt: skip
def test_store_all_names_exist(module):
    import importlib

    mod = importlib.import_module(module)
    assert all(getattr(mod, name) is not None for name in mod.__all__)
