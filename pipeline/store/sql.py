"""The ticket store over SQLAlchemy 2: SQLite by default, any SQLAlchemy database later (PostgreSQL).

One engine per store, shared by every thread; each method runs in its own ORM session and commits before it
returns. SQLite: every connection gets WAL, synchronous=FULL (a committed write survives `kill -9` and a power
cut), foreign keys and a busy timeout, so threads and processes can write the same file. Writes start with
`BEGIN IMMEDIATE`: a read-modify-write (an edit, a confirm) holds the write lock from its first read, so two
writers never interleave; reads do not wait for writers (WAL).

Search: `TicketQuery.text` is a `LIKE '%text%'` substring match (case-insensitive for ASCII) over summary,
location, category, department and the transcript's text. Chinese has no spaces between words, and SQLite FTS5's
tokenizers do not segment it, so a full-text index would only find whole runs of characters; a substring scan
finds any part of a word, and is fast enough for a desk's tickets.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from argon2 import PasswordHasher
from sqlalchemy import ColumnElement, Engine, create_engine, delete, event, func, or_, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.base.types import UNIT_SEPARATOR

from .accounts import Passwords, check_name, check_password, check_role, new_token, token_hash
from .records import (
    FIELDS, SOURCES, Edit, NotAllowed, StoredTicket, StoreError, TicketNotFound, TicketQuery, User, check_changes,
    fields_from_result, time_limit, utc_now,
)  # fmt: skip
from .tables import EditRow, LoginSession, TicketRow, UserRow

logger = logging.getLogger(__name__)

__all__ = ["SqlTicketStore", "default_db_url", "migrate", "open_store"]

BUSY_TIMEOUT_MS = 30_000
MAX_ERROR_CHARS = 2000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SEARCHED = (TicketRow.summary, TicketRow.location, TicketRow.category, TicketRow.department, TicketRow.transcript_text)

Clock = Callable[[], datetime]
_MIGRATING = threading.Lock()


def default_db_url() -> str:
    """A SQLite file in the user's data folder (platformdirs.user_data_dir("hotline"))."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('hotline')) / 'tickets.sqlite'}"


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver's own BEGIN comes too late; _sqlite_begin issues it
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get("hotline_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True)
    engine = create_engine(url, json_serializer=_json_dumps, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema (Alembic, programmatically); a no-op when it is there already.
    Runs in one write transaction, so two processes opening a new database do not both create it; within a
    process, one at a time (Alembic's `context` is global)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    with _MIGRATING, engine.execution_options(hotline_write=True).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _reason(e: BaseException) -> str:
    if isinstance(e, DBAPIError) and e.orig is not None:
        return str(e.orig)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def open_store(url: str, clock: Clock = utc_now, hasher: Optional[PasswordHasher] = None) -> "SqlTicketStore":
    """Open (creating and migrating as needed) the store at SQLAlchemy URL `url`, e.g. "sqlite:///tickets.sqlite".

    Args:
        url: the database; a SQLite file's folder is created.
        clock: the current UTC time (tz-aware); tests pass a fixed one.
        hasher: argon2 password hashing (default: argon2-cffi's default cost, about 0.1-0.5 s a hash).

    Raises:
        StoreError: naming the URL (password hidden): a bad URL, an unknown driver, an unwritable path, a file that
            is not a database, or a database migrated by a newer hotline.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError) as e:
        raise StoreError(f"bad database URL {url!r}: {e} (expected e.g. sqlite:///tickets.sqlite)") from None
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        if database in ("", ":memory:") or "mode=memory" in database:
            raise StoreError(f"cannot open database {shown!r}: in-memory SQLite is not supported (each connection would "
                             "see its own empty database); give a file, e.g. sqlite:///tickets.sqlite")  # fmt: skip
        if not database.startswith("file:"):
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot open database {shown!r}: cannot create its folder: {e}") from None
    try:
        engine = _engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        raise StoreError(f"cannot open database {shown!r}: {_reason(e)}") from None
    try:
        migrate(engine)
    except (SQLAlchemyError, CommandError, OSError) as e:
        engine.dispose()
        raise StoreError(f"cannot open database {shown!r}: {_reason(e)}") from None
    logger.info("ticket store %s opened", shown)
    return SqlTicketStore(engine, clock, Passwords(hasher))


def _ticket_id(ticket_id: object) -> int:
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
        raise StoreError(f"ticket id {ticket_id!r}: expected an integer")
    return ticket_id


def _json_copy(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError) as e:
        raise StoreError(f"draft result: {what} is not JSON ({e})") from None


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.role, row.created_at)


def _names(s: Session, ids: Iterable[Optional[int]]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(UserRow.id, UserRow.name).where(UserRow.id.in_(wanted))).all())


def _stored(row: TicketRow, names: Mapping[int, str]) -> StoredTicket:
    return StoredTicket(
        id=row.id, owner=names[row.owner_id], source=row.source, status=row.status,
        created_at=row.created_at, updated_at=row.updated_at, fields={name: getattr(row, name) for name in FIELDS},
        draft=row.draft, transcript=row.transcript, audio=row.audio, duration_s=row.duration_s, error=row.error,
        confirmed_at=row.confirmed_at, confirmed_by=names.get(row.confirmed_by_id) if row.confirmed_by_id else None,
        dispatched_at=row.dispatched_at, dispatched_by=names.get(row.dispatched_by_id) if row.dispatched_by_id else None,
        due_at=row.due_at,
    )  # fmt: skip


def _ids(row: TicketRow) -> tuple[Optional[int], ...]:
    return (row.owner_id, row.confirmed_by_id, row.dispatched_by_id)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


class SqlTicketStore:
    """`TicketStore` over one SQLAlchemy engine. Thread-safe: each call has its own session and transaction."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, passwords: Optional[Passwords] = None):
        self.engine = engine
        self._clock = clock
        self._passwords = passwords or Passwords()
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(hotline_write=True), expire_on_commit=False)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise StoreError(f"the store's clock gave a naive time {now.isoformat()}: it must be tz-aware")
        return now.astimezone(timezone.utc)

    # --- accounts ----------------------------------------------------------------------------------------
    def add_user(self, name: str, password: str, role: str) -> User:
        """A new account. Raises StoreError: name taken, empty or malformed; role unknown; password < 8 chars."""
        name, role = check_name(name), check_role(role)
        hashed = self._passwords.hash(check_password(password))  # before the write lock: hashing takes a while
        try:
            with self._write.begin() as s:
                if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                    raise StoreError(f"user name {name!r} is taken")
                row = UserRow(name=name, role=role, password_hash=hashed, created_at=self._now())
                s.add(row)
                s.flush()
                user = _user(row)
        except IntegrityError:  # added by another process in between
            raise StoreError(f"user name {name!r} is taken") from None
        logger.info("added %s %r", role, name)
        return user

    def verify_password(self, name: str, password: str) -> Optional[User]:
        """The user, when `password` is theirs; None when it is wrong or the name unknown."""
        row = None
        if isinstance(name, str) and name.strip():
            with self._read() as s:
                row = s.scalar(select(UserRow).where(UserRow.name == name.strip()))
        if row is None or not self._passwords.verify(row.password_hash, password):
            if row is None:
                self._passwords.verify(None, password)  # as slow as a wrong password: the name's existence stays hidden
            return None
        if self._passwords.needs_rehash(row.password_hash):  # argon2 parameters raised since it was hashed
            rehashed = self._passwords.hash(password)
            with self._write.begin() as s:
                found = s.get(UserRow, row.id)
                if found is not None:
                    found.password_hash = rehashed
        return _user(row)

    def get_user(self, name: str) -> Optional[User]:
        if not isinstance(name, str):
            return None
        with self._read() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name.strip()))
            return _user(row) if row else None

    def list_users(self) -> list[User]:
        """Every account, by name."""
        with self._read() as s:
            return [_user(row) for row in s.scalars(select(UserRow).order_by(UserRow.name))]

    # --- login sessions ----------------------------------------------------------------------------------
    def create_session(self, user: User, ttl: timedelta) -> str:
        """A new login session for `user` lasting `ttl`; returns its token (only its sha256 is stored).
        Expired sessions are deleted on the way."""
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise StoreError(f"session ttl {ttl!r}: expected a positive timedelta")
        token, now = new_token(), self._now()
        with self._write.begin() as s:
            if s.get(UserRow, user.id) is None:
                raise StoreError(f"unknown user {user.name!r} (id {user.id})")
            s.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
            s.add(LoginSession(token_hash=token_hash(token), user_id=user.id, created_at=now, expires_at=now + ttl))
        return token

    def session_user(self, token: str) -> Optional[User]:
        """The user of a live session; None when the token is unknown, ended or expired."""
        if not isinstance(token, str) or not token:
            return None
        with self._read() as s:
            found = s.execute(
                select(LoginSession.expires_at, UserRow).join(UserRow, UserRow.id == LoginSession.user_id)
                .where(LoginSession.token_hash == token_hash(token))
            ).first()  # fmt: skip
            if found is None or found[0] <= self._now():
                return None
            return _user(found[1])

    def end_session(self, token: str) -> None:
        if isinstance(token, str) and token:
            with self._write.begin() as s:
                s.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))

    # --- tickets -----------------------------------------------------------------------------------------
    def _row(self, s: Session, ticket_id: object, viewer: Optional[User], lock: bool = False) -> TicketRow:
        """The ticket, if `viewer` may see it (None: the system, which sees all). Raises TicketNotFound."""
        tid = _ticket_id(ticket_id)
        row = s.get(TicketRow, tid, with_for_update=lock)
        if row is None or (viewer is not None and viewer.role != "supervisor" and row.owner_id != viewer.id):
            raise TicketNotFound(f"ticket {tid} not found")
        return row

    def _done(self, s: Session, row: TicketRow) -> StoredTicket:
        s.flush()
        return _stored(row, _names(s, _ids(row)))

    def create_ticket(self, owner: User, source: str, audio: Optional[str] = None) -> StoredTicket:
        """A new ticket of `owner`, status "processing". Raises StoreError for an unknown source or user."""
        if source not in SOURCES:
            raise StoreError(f"ticket source {source!r}: choose one of {', '.join(SOURCES)}")
        now = self._now()
        with self._write.begin() as s:
            if s.get(UserRow, owner.id) is None:
                raise StoreError(f"unknown user {owner.name!r} (id {owner.id})")
            row = TicketRow(owner_id=owner.id, source=source, status="processing", created_at=now, updated_at=now,
                            audio=str(audio) if audio is not None else None)  # fmt: skip
            s.add(row)
            ticket = self._done(s, row)
        logger.info("ticket %d created (%s) for %r", ticket.id, source, owner.name)
        return ticket

    def save_draft(self, ticket_id: int, result: Mapping) -> StoredTicket:
        """Store the drafted call (`pipeline.output.result_to_dict`): transcript, draft, and the fields drafted,
        except those a user has edited already. Status becomes "draft".

        Raises:
            StoreError: `result` is not a drafted call. NotAllowed: the ticket is confirmed or dispatched.
            TicketNotFound: no such ticket.
        """
        fields = fields_from_result(result)
        draft = _json_copy(result["ticket"], "ticket")
        transcript = result.get("transcript")
        if not isinstance(transcript, Mapping):
            raise StoreError("draft result has no 'transcript' object (expected pipeline.output.result_to_dict output)")
        transcript = _json_copy(transcript, "transcript")
        text = transcript.get("text")
        if not isinstance(text, str):
            text = "".join(str(seg.get("text", "")) for seg in transcript.get("segments") or () if isinstance(seg, Mapping))
        duration = result.get("duration_s")
        with self._write.begin() as s:
            row = self._row(s, ticket_id, None, lock=True)
            if row.status in ("confirmed", "dispatched"):
                raise NotAllowed(f"ticket {row.id} is {row.status}: its draft can no longer be replaced")
            edited = set(s.scalars(select(EditRow.field).where(EditRow.ticket_id == row.id).distinct()))
            for name, value in fields.items():
                if name not in edited:
                    setattr(row, name, value)
            row.draft, row.transcript, row.transcript_text = draft, transcript, text
            row.duration_s = float(duration) if isinstance(duration, (int, float)) else row.duration_s
            row.status, row.error, row.updated_at = "draft", None, self._now()
            ticket = self._done(s, row)
        logger.info("ticket %d drafted (%d edited fields kept)", ticket.id, len(edited))
        return ticket

    def fail(self, ticket_id: int, error: str) -> StoredTicket:
        """Processing failed: status "failed", with the reason. NotAllowed once confirmed or dispatched."""
        with self._write.begin() as s:
            row = self._row(s, ticket_id, None, lock=True)
            if row.status in ("confirmed", "dispatched"):
                raise NotAllowed(f"ticket {row.id} is {row.status}: it cannot be marked failed")
            row.status, row.error, row.updated_at = "failed", str(error)[:MAX_ERROR_CHARS], self._now()
            ticket = self._done(s, row)
        logger.warning("ticket %d failed: %s", ticket.id, ticket.error)
        return ticket

    def get_ticket(self, ticket_id: int, viewer: User) -> StoredTicket:
        with self._read() as s:
            row = self._row(s, ticket_id, viewer)
            return _stored(row, _names(s, _ids(row)))

    def _conditions(self, viewer: User, q: TicketQuery) -> list[ColumnElement[bool]]:
        q.check()
        conds: list[ColumnElement[bool]] = []
        if viewer.role != "supervisor":
            conds.append(TicketRow.owner_id == viewer.id)
        elif q.owner:
            conds.append(TicketRow.owner_id == select(UserRow.id).where(UserRow.name == q.owner.strip()).scalar_subquery())
        if q.text and q.text.strip():
            needle = q.text.strip()
            conds.append(or_(*(col.contains(needle, autoescape=True) for col in SEARCHED)))
        for col, value in ((TicketRow.status, q.status), (TicketRow.category, q.category)):
            if value:
                conds.append(col == value)
        if q.department:  # one of the units a ticket goes to: 城管执法局 or 洋湖街道 finds 城管执法局、洋湖街道
            dept, unit = TicketRow.department, q.department
            conds.append(or_(dept == unit, dept.startswith(unit + UNIT_SEPARATOR, autoescape=True),
                             dept.endswith(UNIT_SEPARATOR + unit, autoescape=True),
                             dept.contains(UNIT_SEPARATOR + unit + UNIT_SEPARATOR, autoescape=True)))  # fmt: skip
        if q.date_from:
            conds.append(TicketRow.created_at >= _day_start(q.date_from))
        if q.date_to:
            conds.append(TicketRow.created_at < _day_start(q.date_to + timedelta(days=1)))
        if q.overdue:
            conds += [TicketRow.status == "dispatched", TicketRow.due_at < self._now()]
        return conds

    def list_tickets(self, viewer: User, query: TicketQuery) -> tuple[list[StoredTicket], int]:
        """The page of tickets `viewer` may see that match `query`, newest first, and how many match in all.
        Raises StoreError naming a bad filter."""
        conds = self._conditions(viewer, query)
        with self._read() as s:
            total = s.scalar(select(func.count(TicketRow.id)).where(*conds)) or 0
            rows = list(s.scalars(
                select(TicketRow).where(*conds).order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
                .limit(query.limit).offset(query.offset)
            ))  # fmt: skip
            names = _names(s, (i for row in rows for i in _ids(row)))
            return [_stored(row, names) for row in rows], total

    def update_fields(self, ticket_id: int, viewer: User, changes: Mapping[str, Optional[str]]) -> StoredTicket:
        """Set fields; one Edit (who, when, old, new) per field whose value changes. Blank values become None.

        Raises:
            StoreError: an unknown field (named) or a bad value. NotAllowed: the ticket is dispatched.
            TicketNotFound: no such ticket, or not the viewer's.
        """
        values = check_changes(changes)
        with self._write.begin() as s:
            row = self._row(s, ticket_id, viewer, lock=True)
            if row.status == "dispatched":
                raise NotAllowed(f"ticket {row.id} is dispatched: its fields can no longer be edited")
            now = self._now()
            changed = [(name, getattr(row, name), value) for name, value in values.items() if getattr(row, name) != value]
            for name, old, new in changed:
                setattr(row, name, new)
                s.add(EditRow(ticket_id=row.id, user_id=viewer.id, at=now, field=name, old=old, new=new))
            if changed:
                row.updated_at = now
            ticket = self._done(s, row)
        if changed:
            logger.info("ticket %d: %s edited by %r", ticket.id, ", ".join(c[0] for c in changed), viewer.name)
        return ticket

    def confirm(self, ticket_id: int, viewer: User) -> StoredTicket:
        """A draft becomes "confirmed" (by `viewer`, now). NotAllowed from any other status."""
        with self._write.begin() as s:
            row = self._row(s, ticket_id, viewer, lock=True)
            if row.status != "draft":
                raise NotAllowed(f"ticket {row.id} is {row.status}: only a draft can be confirmed")
            now = self._now()
            row.status, row.confirmed_at, row.confirmed_by_id, row.updated_at = "confirmed", now, viewer.id, now
            ticket = self._done(s, row)
        logger.info("ticket %d confirmed by %r", ticket.id, viewer.name)
        return ticket

    def dispatch(self, ticket_id: int, viewer: User, now: Optional[datetime] = None) -> StoredTicket:
        """A confirmed ticket goes to its department: status "dispatched", due `time_limit_hours` (24 when empty)
        after `now` (default: the store's clock).

        Raises:
            NotAllowed: the ticket is not confirmed. StoreError: no department, a bad time limit, a naive `now`.
            TicketNotFound: no such ticket, or not the viewer's.
        """
        if now is not None and now.tzinfo is None:
            raise StoreError(f"dispatch time {now.isoformat()} has no time zone")
        at = now.astimezone(timezone.utc) if now is not None else self._now()
        with self._write.begin() as s:
            row = self._row(s, ticket_id, viewer, lock=True)
            if row.status != "confirmed":
                raise NotAllowed(f"ticket {row.id} is {row.status}: only a confirmed ticket can be dispatched")
            if not row.department:
                raise StoreError(f"ticket {row.id} has no department: fill in field 'department' before dispatching")
            due = at + time_limit(row.time_limit_hours)
            row.status, row.dispatched_at, row.dispatched_by_id, row.due_at, row.updated_at = "dispatched", at, viewer.id, due, at
            ticket = self._done(s, row)
        logger.info("ticket %d dispatched to %s by %r, due %s", ticket.id, row.department, viewer.name, due.isoformat())
        return ticket

    def edits(self, ticket_id: int, viewer: User) -> list[Edit]:
        """The ticket's edits, oldest first."""
        with self._read() as s:
            row = self._row(s, ticket_id, viewer)
            found = s.execute(
                select(EditRow, UserRow.name).join(UserRow, UserRow.id == EditRow.user_id)
                .where(EditRow.ticket_id == row.id).order_by(EditRow.id)
            ).all()  # fmt: skip
            return [Edit(e.ticket_id, name, e.at, e.field, e.old, e.new) for e, name in found]

    def close(self) -> None:
        self.engine.dispose()
