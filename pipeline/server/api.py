"""The REST API under /api/ (JSON; errors are `{"error": "<one line>"}`): tickets, exports, uploads, health.

Every route runs behind `auth.SessionGate`, which puts the logged-in user in `request.state.user`. The store's
calls block (SQLite), so the routes that use it are plain `def`s, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from datetime import date, datetime, timezone
from pathlib import Path, PurePath
from typing import Any, Iterator, Optional

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from pipeline.store import FIELDS, NotAllowed, StoredTicket, StoreError, TicketNotFound, TicketQuery, User

from .calls import recording_path
from .drafting import DraftJob

logger = logging.getLogger(__name__)

__all__ = ["install_error_handlers", "router"]

router = APIRouter(prefix="/api")
UPLOAD_SLACK_BYTES = 64 * 1024  # multipart boundaries and headers around the file
EXPORT_PAGE = 1000
CSV_COLUMNS = ("id", "owner", "source", "status", "status_label", "created_at", "updated_at", "confirmed_at", "confirmed_by",
               "dispatched_at", "dispatched_by", "due_at", "overdue", *FIELDS, "duration_s", "error", "transcript")  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Every error as `{"error": ...}`: store errors 400 (TicketNotFound 404, NotAllowed 409), bad parameters 400."""

    async def not_found(request: Request, e: Exception) -> Response:
        return _error(404, str(e))

    async def not_allowed(request: Request, e: Exception) -> Response:
        return _error(409, str(e))

    async def store_error(request: Request, e: Exception) -> Response:
        return _error(400, str(e))

    async def http_error(request: Request, e: Exception) -> Response:
        status = getattr(e, "status_code", 500)
        return JSONResponse({"error": str(getattr(e, "detail", e))}, status_code=status, headers=getattr(e, "headers", None))

    async def bad_request(request: Request, e: Exception) -> Response:
        errors = e.errors() if isinstance(e, RequestValidationError) else []
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
        value = first.get("input")
        shown = f"={value!r}" if value is not None and not isinstance(value, (dict, list)) else ""
        return _error(400, f"invalid {where or 'request'}{shown}: {first.get('msg', 'bad value')}")

    app.add_exception_handler(TicketNotFound, not_found)
    app.add_exception_handler(NotAllowed, not_allowed)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)


def _user(request: Request) -> User:
    return request.state.user


def _hub(request: Request):
    return request.app.state.hotline


def _query(q, status, category, department, date_from, date_to, owner, overdue, limit, offset) -> TicketQuery:
    return TicketQuery(text=q or None, status=status or None, category=category or None, department=department or None,
                       date_from=date_from, date_to=date_to, owner=owner or None, overdue=overdue, limit=limit,
                       offset=offset)  # fmt: skip


def _filters(
    q: Optional[str] = Query(None, max_length=200),
    status: Optional[str] = None,
    category: Optional[str] = None,
    department: Optional[str] = None,
    date_from: Optional[date] = None,
    date_to: Optional[date] = None,
    owner: Optional[str] = None,
    overdue: bool = False,
) -> dict[str, Any]:
    return dict(q=q, status=status, category=category, department=department, date_from=date_from, date_to=date_to,
                owner=owner, overdue=overdue)  # fmt: skip


# --- who, health ---------------------------------------------------------------------------------------
@router.get("/me")
def me(request: Request) -> dict:
    user = _user(request)
    return {"name": user.name, "role": user.role}


@router.get("/health")
def health(request: Request) -> dict:
    hub = _hub(request)
    stats = hub.scheduler.stats()
    return {"ok": hub.scheduler.alive, "live_calls": hub.desk.live_calls, "max_live": hub.settings.max_live,
            "queue": hub.drafter.pending, "decode_workers": hub.scheduler.workers, "decodes_waiting": stats.waiting}  # fmt: skip


# --- tickets -------------------------------------------------------------------------------------------
@router.get("/tickets")
def list_tickets(request: Request, q: Optional[str] = Query(None, max_length=200), status: Optional[str] = None,
                 category: Optional[str] = None, department: Optional[str] = None, date_from: Optional[date] = None,
                 date_to: Optional[date] = None, owner: Optional[str] = None, overdue: bool = False,
                 limit: int = 100, offset: int = 0) -> dict:  # fmt: skip
    query = _query(q, status, category, department, date_from, date_to, owner, overdue, limit, offset)
    tickets, total = _hub(request).store.list_tickets(_user(request), query)
    now = utc_now()
    return {"tickets": [t.to_dict(full=False, now=now) for t in tickets], "total": total}


def _all(request: Request, filters: dict[str, Any]) -> Iterator[StoredTicket]:
    user = _user(request)
    if user.role != "supervisor":
        raise HTTPException(403, f"exports are for supervisors; {user.name!r} is an {user.role}")
    store = _hub(request).store
    offset = 0
    while True:
        page, total = store.list_tickets(user, _query(**filters, limit=EXPORT_PAGE, offset=offset))
        yield from page
        offset += len(page)
        if not page or offset >= total:
            return


@router.get("/tickets/export.csv")
def export_csv(request: Request, q: Optional[str] = Query(None, max_length=200), status: Optional[str] = None,
               category: Optional[str] = None, department: Optional[str] = None, date_from: Optional[date] = None,
               date_to: Optional[date] = None, owner: Optional[str] = None, overdue: bool = False) -> Response:  # fmt: skip
    """CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese right), one row per ticket."""
    filters = _filters(q, status, category, department, date_from, date_to, owner, overdue)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    now = utc_now()
    for t in _all(request, filters):
        d = t.to_dict(full=False, now=now)
        row = {**d, **{name: t.fields.get(name) for name in FIELDS}}
        row["transcript"] = (t.transcript or {}).get("text")
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="tickets.csv"'})  # fmt: skip


@router.get("/tickets/export.json")
def export_json(request: Request, q: Optional[str] = Query(None, max_length=200), status: Optional[str] = None,
                category: Optional[str] = None, department: Optional[str] = None, date_from: Optional[date] = None,
                date_to: Optional[date] = None, owner: Optional[str] = None, overdue: bool = False) -> Response:  # fmt: skip
    """Every matching ticket in full (transcript and draft included)."""
    filters = _filters(q, status, category, department, date_from, date_to, owner, overdue)
    now = utc_now()
    tickets = [t.to_dict(now=now) for t in _all(request, filters)]
    body = json.dumps({"tickets": tickets, "total": len(tickets)}, ensure_ascii=False)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="tickets.json"'})  # fmt: skip


@router.get("/tickets/{ticket_id}")
def get_ticket(request: Request, ticket_id: int) -> dict:
    store, user = _hub(request).store, _user(request)
    d = store.get_ticket(ticket_id, user).to_dict()
    d["edits"] = [e.to_dict() for e in store.edits(ticket_id, user)]
    return d


@router.patch("/tickets/{ticket_id}")
def update_ticket(request: Request, ticket_id: int, body: Any = Body(...)) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise StoreError('expected a JSON body {"fields": {"<field>": "<value>"}}')
    return _hub(request).store.update_fields(ticket_id, _user(request), body["fields"]).to_dict()


@router.post("/tickets/{ticket_id}/confirm")
def confirm_ticket(request: Request, ticket_id: int) -> dict:
    return _hub(request).store.confirm(ticket_id, _user(request)).to_dict()


@router.post("/tickets/{ticket_id}/dispatch")
def dispatch_ticket(request: Request, ticket_id: int) -> dict:
    return _hub(request).store.dispatch(ticket_id, _user(request)).to_dict()


# --- uploads -------------------------------------------------------------------------------------------
class _TooLarge(Exception):
    pass


def _limited(request: Request, limit: int) -> Request:
    """`request` whose body stops with _TooLarge once more than `limit` bytes have come (chunked bodies too)."""
    seen = 0
    receive = request.receive

    async def limited_receive():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return Request(request.scope, limited_receive)


def _safe_suffix(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""


@router.post("/uploads", status_code=202)
async def upload(request: Request) -> Response:
    """A recording (multipart field `file`) → a ticket, drafted in the background. 413 over the size limit."""
    hub = _hub(request)
    limit = hub.settings.max_upload_bytes
    too_large = f"the recording is larger than the upload limit of {hub.settings.max_upload_mb:g} MB"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + UPLOAD_SLACK_BYTES:
        return _error(413, too_large)
    try:
        form = await _limited(request, limit + UPLOAD_SLACK_BYTES).form(max_files=1, max_fields=5)
    except _TooLarge:
        return _error(413, too_large)
    try:
        file = form.get("file")
        if file is None or isinstance(file, str):
            return _error(400, "no file: send the recording as the multipart form field 'file'")
        name = PurePath(file.filename or "recording").name or "recording"
        if file.size is not None and file.size > limit:
            return _error(413, too_large)
        path = recording_path(hub.settings.recordings_dir, "upload", _safe_suffix(name))
        ticket = await run_in_threadpool(_save_upload, hub, _user(request), file.file, path)
    finally:
        await form.close()
    hub.drafter.submit(DraftJob(ticket.id, path, name))
    logger.info("ticket %d: upload %s (%s) from %s", ticket.id, name, path.name, _user(request).name)
    return JSONResponse({"ticket_id": ticket.id, "status": ticket.status}, status_code=202)


def _save_upload(hub, user: User, source, path: Path) -> StoredTicket:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    try:
        return hub.store.create_ticket(user, "upload", audio=str(path))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
