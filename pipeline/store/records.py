"""The store's value types, errors and interface: what the server and the CLI see, whatever the database.

Times are UTC and tz-aware. A ticket's `fields` are the editable values (all Optional[str]); `draft` is the ticket
as the pipeline drafted it (the JSON contract's `ticket` object) and is never edited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Protocol

from pipeline.base.errors import HotlineError

__all__ = [
    "FIELDS", "ROLES", "SOURCES", "STATUSES", "STATUS_LABELS", "Edit", "NotAllowed", "StoreError", "StoredTicket",
    "TicketNotFound", "TicketQuery", "TicketStore", "User", "check_changes", "fields_from_result", "time_limit", "utc_now",
]  # fmt: skip

STATUSES = ("processing", "draft", "confirmed", "dispatched", "failed")
STATUS_LABELS = {"processing": "处理中", "draft": "草稿", "confirmed": "已确认", "dispatched": "已派单", "failed": "失败"}
SOURCES = ("live", "fallback", "upload")
ROLES = ("operator", "supervisor")
LOCATION_PARTS = ("district", "street", "road", "number", "compound", "intersection")
FIELDS = ("request_type", "category", "department", "location", *LOCATION_PARTS, "summary", "urgency", "priority",
          "time_limit_hours", "caller_phone", "caller_id")  # fmt: skip
MAX_FIELD_CHARS = 10_000
DEFAULT_TIME_LIMIT_HOURS = 24.0


class StoreError(HotlineError, ValueError):
    """Bad input to the store, or a database that cannot be opened; the message names the field, value or URL."""


class TicketNotFound(StoreError, LookupError):
    """No such ticket, or one the viewer may not see (an operator sees only their own)."""


class NotAllowed(StoreError):
    """The action is not allowed in the ticket's state or for the viewer's role."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: Optional[datetime]) -> Optional[str]:
    return t.isoformat() if t is not None else None


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Edit:
    """One change of one field: who made it, when, and the values before and after."""

    ticket_id: int
    user: str
    at: datetime
    field: str
    old: Optional[str]
    new: Optional[str]

    def to_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "user": self.user, "at": _iso(self.at), "field": self.field,
                "old": self.old, "new": self.new}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredTicket:
    """A ticket as stored. `dispatched_by` is recorded besides the spec's fields (who dispatched it)."""

    id: int
    owner: str
    source: str
    status: str
    created_at: datetime
    updated_at: datetime
    fields: Mapping[str, Optional[str]]
    draft: Optional[Mapping] = None
    transcript: Optional[Mapping] = None
    audio: Optional[str] = None
    duration_s: Optional[float] = None
    error: Optional[str] = None
    confirmed_at: Optional[datetime] = None
    confirmed_by: Optional[str] = None
    dispatched_at: Optional[datetime] = None
    dispatched_by: Optional[str] = None
    due_at: Optional[datetime] = None

    def overdue(self, now: datetime) -> bool:
        """Dispatched, and its due time has passed at `now`."""
        return self.status == "dispatched" and self.due_at is not None and self.due_at < now

    def to_dict(self, full: bool = True, now: Optional[datetime] = None) -> dict[str, Any]:
        """JSON-ready (ISO 8601 times). `full=False` leaves out `draft` and `transcript` (for lists);
        `overdue` is computed at `now` (default: the current time)."""
        d: dict[str, Any] = {
            "id": self.id, "owner": self.owner, "source": self.source, "status": self.status,
            "status_label": STATUS_LABELS.get(self.status, self.status),
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at), "fields": dict(self.fields),
            "audio": self.audio, "duration_s": self.duration_s, "error": self.error,
            "confirmed_at": _iso(self.confirmed_at), "confirmed_by": self.confirmed_by,
            "dispatched_at": _iso(self.dispatched_at), "dispatched_by": self.dispatched_by, "due_at": _iso(self.due_at),
            "overdue": self.overdue(now if now is not None else utc_now()),
        }  # fmt: skip
        if full:
            d["draft"] = dict(self.draft) if self.draft is not None else None
            d["transcript"] = dict(self.transcript) if self.transcript is not None else None
        return d


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """Filters of `list_tickets`. `text` is a substring match (see `pipeline.store.sql`); dates are UTC days of
    `created_at`, inclusive; `owner` applies to supervisors only (an operator always sees only their own)."""

    text: Optional[str] = None
    status: Optional[str] = None
    category: Optional[str] = None
    department: Optional[str] = None
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    owner: Optional[str] = None
    overdue: bool = False
    limit: int = 100
    offset: int = 0

    def check(self) -> None:
        """Raises StoreError naming the first bad filter."""
        if self.status is not None and self.status not in STATUSES:
            raise StoreError(f"unknown status {self.status!r}; choose one of {', '.join(STATUSES)}")
        if not 1 <= self.limit <= 1000:
            raise StoreError(f"limit={self.limit!r}: must be between 1 and 1000")
        if self.offset < 0:
            raise StoreError(f"offset={self.offset!r}: must be 0 or more")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise StoreError(f"date_from={self.date_from.isoformat()} is after date_to={self.date_to.isoformat()}")


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value).strip()
    return text or None


def fields_from_result(result: Mapping) -> dict[str, Optional[str]]:
    """The editable fields of a drafted ticket: `result` is `pipeline.output.result_to_dict(CallResult)`.

    Location parts come from `ticket.location.parts`, priority and time limit from `ticket.urgency`.

    Raises:
        StoreError: `result` lacks the `ticket` object or one of its fields.
    """
    ticket = result.get("ticket") if isinstance(result, Mapping) else None
    if not isinstance(ticket, Mapping):
        raise StoreError("draft result has no 'ticket' object (expected pipeline.output.result_to_dict output)")
    out: dict[str, Optional[str]] = {}
    for name in ("request_type", "category", "department", "location", "summary", "urgency", "caller_phone", "caller_id"):
        f = ticket.get(name)
        if not isinstance(f, Mapping):
            raise StoreError(f"draft result: ticket.{name} is missing or not an object")
        out[name] = _text(f.get("value"))
    parts = ticket["location"].get("parts")
    parts = parts if isinstance(parts, Mapping) else {}
    for name in LOCATION_PARTS:
        out[name] = _text(parts.get(name))
    out["priority"] = _text(ticket["urgency"].get("priority"))
    out["time_limit_hours"] = _text(ticket["urgency"].get("time_limit_hours"))
    return {name: out[name] for name in FIELDS}


def time_limit(value: Optional[str]) -> timedelta:
    """The time limit a `time_limit_hours` field gives (24 h when empty). Raises StoreError for a bad value."""
    if value is None:
        return timedelta(hours=DEFAULT_TIME_LIMIT_HOURS)
    try:
        hours = float(value)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and 0 < hours <= 24 * 366):
        raise StoreError(f"time_limit_hours={value!r}: expected a number of hours, more than 0 and at most a year")
    return timedelta(hours=hours)


def check_changes(changes: Mapping[str, Any]) -> dict[str, Optional[str]]:
    """Validated edits: known fields only, strings or None; blanks become None, ends are stripped.

    Raises:
        StoreError: naming the unknown field or the bad value.
    """
    if not isinstance(changes, Mapping):
        raise StoreError(f"changes must be an object of field: value, not {type(changes).__name__}")
    out: dict[str, Optional[str]] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            raise StoreError(f"unknown ticket field {name!r}; fields are: {', '.join(FIELDS)}")
        if value is not None and not isinstance(value, str):
            raise StoreError(f"field {name!r}: expected text or null, got {type(value).__name__} {value!r}")
        text = value.strip() if value is not None else None
        text = text or None
        if text is not None and len(text) > MAX_FIELD_CHARS:
            raise StoreError(f"field {name!r}: {len(text)} characters, at most {MAX_FIELD_CHARS}")
        if name == "time_limit_hours":
            time_limit(text)
        out[name] = text
    return out


class TicketStore(Protocol):
    """Accounts, login sessions and tickets. Every write is committed before the method returns."""

    def add_user(self, name: str, password: str, role: str) -> User: ...
    def verify_password(self, name: str, password: str) -> Optional[User]: ...
    def get_user(self, name: str) -> Optional[User]: ...
    def list_users(self) -> list[User]: ...
    def create_session(self, user: User, ttl: timedelta) -> str: ...
    def session_user(self, token: str) -> Optional[User]: ...
    def end_session(self, token: str) -> None: ...
    def create_ticket(self, owner: User, source: str, audio: Optional[str] = None) -> StoredTicket: ...
    def save_draft(self, ticket_id: int, result: Mapping) -> StoredTicket: ...
    def fail(self, ticket_id: int, error: str) -> StoredTicket: ...
    def get_ticket(self, ticket_id: int, viewer: User) -> StoredTicket: ...
    def list_tickets(self, viewer: User, query: TicketQuery) -> tuple[list[StoredTicket], int]: ...
    def update_fields(self, ticket_id: int, viewer: User, changes: Mapping[str, Optional[str]]) -> StoredTicket: ...
    def confirm(self, ticket_id: int, viewer: User) -> StoredTicket: ...
    def dispatch(self, ticket_id: int, viewer: User, now: Optional[datetime] = None) -> StoredTicket: ...
    def edits(self, ticket_id: int, viewer: User) -> list[Edit]: ...
    def close(self) -> None: ...
