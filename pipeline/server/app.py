"""The console's web app: `create_app(settings, pipeline, store)` wires the pages, the REST API, the call websocket,
the one decode scheduler and the after-call drafter around the process's one CallPipeline; `serve` runs it.

Websocket `/ws/call`, one call per connection (module `calls` has the rest of the story):

    server → {"type": "ready", "call_id": N, "live": true}            a live call (ticket N, source "live")
           | {"type": "busy", "call_id": N, "live": false, "message"}  beyond max_live: recorded, drafted after hang-up
    client → binary frames: int16 little-endian PCM, 16 kHz mono, at most max_frame_bytes each
    client → {"type": "hangup"}   (closing the socket also ends the call; its ticket is still made)
    server → {"type": "partial", "speaker", "text"}                    the unstable tail, replaced each time
           | {"type": "committed", "speaker", "text", "start_s", "end_s"}
           | {"type": "ticket_update", "ticket": <ticket_to_dict>}
           | {"type": "error", "message"}    a bad frame (then close 1009 too large / 1003 odd length), the length
                                             limit (then the call ends as if hung up), a failed live decode
    server → {"type": "ticket_final", "ticket": <StoredTicket.to_dict()>} after hang-up of a live call, or
             {"type": "queued", "ticket_id": N} of a fallback call; then close 1000.
    Refused: close 4403 (an Origin that is not the server's own nor allowed), 4401 (no session), before any audio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from asr.streaming import OnlineWhisper
from pipeline.base.errors import ConfigError, HotlineError
from pipeline.call import CallPipeline
from pipeline.store import TicketQuery, TicketStore, User

from .api import install_error_handlers, router
from .auth import (
    WS_BAD_ORIGIN, WS_NO_SESSION, LoginLimiter, SessionGate, login, login_page, logout, origin_allowed, websocket_user,
)  # fmt: skip
from .calls import BUSY_MESSAGE, CallDesk, ServerCall, loop_finisher, loop_poster, open_call
from .drafting import AfterCallDrafter, DraftJob, Recogniser
from .scheduler import DecodeScheduler
from .settings import ServerSettings

logger = logging.getLogger(__name__)

__all__ = ["Hub", "bind_socket", "create_app", "serve"]

SHUTDOWN_WAIT_S = 30.0  # how long shutdown waits for live calls to finish their tickets


@dataclass(frozen=True)
class Hub:
    """The process-wide pieces every route and call shares (`app.state.hotline`)."""

    settings: ServerSettings
    pipeline: CallPipeline
    store: TicketStore
    scheduler: DecodeScheduler
    drafter: AfterCallDrafter
    desk: CallDesk
    limiter: LoginLimiter
    recogniser: Recogniser


def create_app(
    settings: ServerSettings, pipeline: CallPipeline, store: TicketStore, recogniser: Optional[Recogniser] = None
) -> FastAPI:
    """The console app. Its lifespan starts the decode worker and the drafting worker, queues recordings left
    "processing" by a previous run, and on shutdown waits for live calls to finish their tickets.

    Args:
        settings: the server's settings.
        pipeline: the process's call object; its engine (loaded here) decodes every session's audio, through
            one DecodeScheduler with as many workers as the engine runs decodes at once.
        store: the ticket store (the caller opens and closes it).
        recogniser: builds a session's streaming recogniser on a scheduler backend (default: OnlineWhisper with
            the pipeline's streaming options); tests pass one with a fake VAD.
    """
    streaming = pipeline.config.streaming
    make = recogniser or (lambda backend: OnlineWhisper(backend, streaming))
    scheduler = DecodeScheduler(pipeline.engine)
    drafter = AfterCallDrafter(pipeline, store, scheduler, make)
    limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
    hub = Hub(settings, pipeline, store, scheduler, drafter, CallDesk(settings.max_live), limiter, make)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        scheduler.start()
        drafter.start()
        await run_in_threadpool(recover, hub)
        logger.info("console ready: at most %d live calls, recordings in %s", settings.max_live, settings.recordings_dir)
        try:
            yield
        finally:
            await run_in_threadpool(shutdown, hub)

    app = FastAPI(title="hotline", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hotline = hub
    install_error_handlers(app)
    app.include_router(router)
    static = settings.static_path

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/login", include_in_schema=False)
    def login_form() -> Response:
        return login_page(settings)

    app.add_api_route("/login", login, methods=["POST"], include_in_schema=False)
    app.add_api_route("/logout", logout, methods=["POST"], include_in_schema=False)
    app.add_api_websocket_route("/ws/call", call_websocket)
    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")
    app.add_middleware(SessionGate, store=store)
    app.add_middleware(SecurityHeaders)
    return app


# The page loads only its own scripts, styles and worklet, and talks only to its own server (the websocket
# included: CSP 3 'self' covers ws/wss on the same host); the login page's one inline <style> is the exception.
SECURITY_HEADERS = (
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)  # fmt: skip


class SecurityHeaders:
    """ASGI middleware: every HTTP response carries SECURITY_HEADERS (unless a route set them itself)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def recover(hub: Hub) -> None:
    """Tickets left "processing" by a previous run (a crash or a stop during drafting) are drafted from their
    recordings; one whose recording is gone is marked failed. (One server per database: a second server would
    take the first one's calls in progress for left over.)"""
    system = User(0, "hotline", "supervisor", datetime.now(timezone.utc))  # sees every ticket
    try:
        left: list = []
        while True:
            page, total = hub.store.list_tickets(system, TicketQuery(status="processing", limit=1000, offset=len(left)))
            left += page
            if not page or len(left) >= total:
                break
        for ticket in reversed(left):  # oldest first
            audio = Path(ticket.audio) if ticket.audio else None
            if audio is not None and audio.is_file():
                hub.drafter.submit(DraftJob(ticket.id, audio, audio.name))
            else:
                hub.store.fail(ticket.id, "the server stopped before this call's recording was saved")
        if left:
            logger.warning("%d ticket(s) left processing by the previous run: queued for drafting", len(left))
    except Exception:
        logger.exception("could not look for tickets left processing by a previous run")


def shutdown(hub: Hub) -> None:
    """Live calls finish their tickets (bounded wait), then no new drafting starts, then the decode worker stops
    (a recording being drafted stays "processing" and is drafted at the next start)."""
    hub.desk.join(SHUTDOWN_WAIT_S)
    hub.drafter.stop()
    hub.scheduler.close(timeout_s=SHUTDOWN_WAIT_S)
    hub.drafter.join(SHUTDOWN_WAIT_S)
    logger.info("console stopped")


# --- the call websocket --------------------------------------------------------------------------------
_HANGUP, _GONE = "hangup", "gone"
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str = ""


async def _send_events(websocket: WebSocket, outbox: asyncio.Queue) -> None:
    """Sends the outbox's events in order until a _Close (which closes the socket) or _STOP."""
    while True:
        item = await outbox.get()
        if item is _STOP:
            return
        try:
            if isinstance(item, _Close):
                await websocket.close(item.code, item.reason)
                return
            await websocket.send_json(item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the page has gone; the call goes on to its ticket without it


async def _receive_audio(websocket: WebSocket, call: ServerCall, outbox: asyncio.Queue, settings: ServerSettings):
    """Feeds the call until it ends: returns _HANGUP, _GONE (socket closed) or a _Close for a bad frame."""

    def error(message: str) -> None:
        outbox.put_nowait({"type": "error", "message": message})

    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return _GONE
        data = message.get("bytes")
        if data is not None:
            if len(data) > settings.max_frame_bytes:
                limit = settings.max_frame_bytes
                error(f"音频帧过大：{len(data)} 字节，上限 {limit} 字节（每帧约 100 ms 的 16 kHz int16 PCM）")
                return _Close(1009, "frame too large")
            if len(data) % 2:
                error(f"音频帧长度为奇数（{len(data)} 字节）：需要 16 kHz 单声道 int16 小端 PCM")
                return _Close(1003, "odd frame length")
            call.feed(data)
            if call.samples >= settings.max_call_samples:
                error(f"通话已达最长时长 {settings.max_call_s / 60:g} 分钟，已自动结束并生成工单")
                return _HANGUP
            continue
        text = message.get("text")
        try:
            parsed = json.loads(text) if text is not None else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("type") == "hangup":
            return _HANGUP
        error(f'无法识别的消息 {str(text)[:80]!r}：请发送二进制音频帧或 {{"type": "hangup"}}')


async def call_websocket(websocket: WebSocket) -> None:
    """/ws/call: one call (protocol in the module docstring)."""
    hub: Hub = websocket.app.state.hotline
    await websocket.accept()  # accepted first, so the page can read why it is refused (a close before is a 403)
    if not origin_allowed(websocket, hub.settings):
        logger.warning("call refused: Origin %r is not allowed", websocket.headers.get("origin"))
        await websocket.close(WS_BAD_ORIGIN, "origin not allowed")
        return
    user = await websocket_user(websocket, hub.store)
    if user is None:
        await websocket.close(WS_NO_SESSION, "not logged in")
        return
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue = asyncio.Queue()
    final: asyncio.Future = loop.create_future()
    try:
        ticket_id, live, recording = await run_in_threadpool(open_call, user, hub.store, hub.desk, hub.settings.recordings_dir)
    except Exception as e:  # the store or the recordings folder: nothing of the call was taken yet
        logger.exception("call of %s refused: could not open its ticket or recording", user.name)
        await websocket.send_json({"type": "error", "message": f"无法开始通话：{e}"})
        await websocket.close(1011, "could not open the call")
        return
    sender: Optional[asyncio.Task] = None
    call: Optional[ServerCall] = None
    try:
        call = ServerCall(ticket_id, live, recording, pipeline=hub.pipeline, store=hub.store, scheduler=hub.scheduler,
                          drafter=hub.drafter, desk=hub.desk, recogniser=hub.recogniser,
                          post=loop_poster(loop, outbox), finish=loop_finisher(loop, final))  # fmt: skip
        logger.info("ticket %d: %s call of %s", ticket_id, "live" if live else "fallback", user.name)
        if live:
            outbox.put_nowait({"type": "ready", "call_id": ticket_id, "live": True})
        else:
            outbox.put_nowait({"type": "busy", "call_id": ticket_id, "live": False, "message": BUSY_MESSAGE})
        sender = asyncio.create_task(_send_events(websocket, outbox))
        ended = await _receive_audio(websocket, call, outbox, hub.settings)
        call.hang_up()
        if ended is _HANGUP:
            outbox.put_nowait(await final)
            outbox.put_nowait(_Close(1000, "call ended"))
        elif isinstance(ended, _Close):
            outbox.put_nowait(ended)
        else:
            outbox.put_nowait(_STOP)
        await sender
    finally:
        if call is not None:
            call.hang_up()  # a cancelled handler still ends its call: the ticket is made in the background
        else:
            recording.close()
            if live:
                hub.desk.release()
        if sender is not None and not sender.done():
            sender.cancel()


# --- running it ----------------------------------------------------------------------------------------
def bind_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port now, so a taken port is a one-line error before anything starts.

    Raises:
        ConfigError: naming --host/--port.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError("--host", host, f"a host name or address of this machine ({e.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError("--port", port, f"a port free on {host} ({e.strerror})") from None
    sock.listen(2048)  # connections wait in the backlog until uvicorn serves (uvicorn's own backlog size)
    sock.set_inheritable(True)
    return sock


def serve(app: FastAPI, sock: socket.socket, access_log: bool = False) -> None:
    """Run `app` on the bound `sock` until Ctrl-C or SIGTERM (uvicorn handles both: open calls are closed and
    finish their tickets, then the lifespan's shutdown runs). Logging goes through the caller's configuration.

    Raises:
        HotlineError: the app did not start (its startup failed; the log says why).
    """
    import uvicorn

    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on", ws_ping_interval=20.0,
                            ws_ping_timeout=20.0, timeout_graceful_shutdown=int(SHUTDOWN_WAIT_S))  # fmt: skip
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise HotlineError("the console did not start (see the log above)")
