"""Login, sessions and the gate in front of everything else.

`POST /login` checks the password (argon2, in the store) and sets the `hotline_session` cookie: HttpOnly,
SameSite=Strict, Path=/, Secure when the request came over https. The token is random; the store keeps only its
hash. Wrong passwords are counted per account name and client address (`LoginLimiter`); past the limit the login
is answered 429 without checking the password.

`SessionGate` is an ASGI middleware in front of every HTTP route but the login page: without a valid session a
page answers 303 to /login, and /api/* and /static/* answer 401 JSON. The websocket checks its own session and
its Origin (`websocket_user`), because it must close with a code the page can read (4401, 4403).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Callable, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.websockets import WebSocket

from pipeline.store import TicketStore, User

from .settings import ServerSettings

logger = logging.getLogger(__name__)

__all__ = ["COOKIE", "LoginLimiter", "SessionGate", "login", "logout", "login_page", "origin_allowed", "websocket_user"]

COOKIE = "hotline_session"
PUBLIC_PATHS = frozenset({"/login"})
WRONG_LOGIN = "账号或密码错误"
TOO_MANY = "登录失败次数过多，请{minutes}分钟后再试"
WS_NO_SESSION = 4401
WS_BAD_ORIGIN = 4403
_FALLBACK_LOGIN = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录</title></head><body>
<p id="login-error" role="alert"><!--login-error--></p><form method="post" action="/login">
<input id="login-name" name="name" placeholder="账号"> <input id="login-password" name="password" type="password"
placeholder="密码"> <button id="login-submit" type="submit">登录</button></form></body></html>"""


class LoginLimiter:
    """Wrong passwords per (account name, client address): `max_failures` within `window_s` lock that pair out
    until the oldest failure leaves the window. A successful login clears the pair's count."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, name: str, client: str) -> float:
        """0 when a login may be tried now; else the seconds until it may."""
        now = self._clock()
        with self._lock:
            times = self._recent((name, client), now)
            if len(times) < self.max_failures:
                return 0.0
            return max(1.0, times[0] + self.window_s - now)

    def failed(self, name: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > 10000:  # forget pairs whose failures have all left the window
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}
            key = (name, client)
            self._failures[key] = self._recent(key, now)
            self._failures[key].append(now)

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            self._failures.pop((name, client), None)


def login_page(settings: ServerSettings, message: str = "", status_code: int = 200) -> HTMLResponse:
    """The login page with `message` in its error slot (`<!--login-error-->`)."""
    path = settings.static_path / "login.html"
    try:
        html = path.read_text(encoding="utf-8")
    except OSError:
        html = _FALLBACK_LOGIN
    if message:
        html = html.replace("<!--login-error-->", message, 1)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login(request: Request) -> Response:
    """POST /login (form fields `name`, `password`) → 303 to / with the session cookie; 401 wrong; 429 limited."""
    hub = request.app.state.hotline
    form = await request.form(max_files=0, max_fields=10)
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    client = _client(request)
    wait_s = hub.limiter.retry_after_s(name, client)
    if wait_s:
        logger.warning("login of %r from %s refused: too many wrong passwords", name, client)
        response = login_page(hub.settings, TOO_MANY.format(minutes=max(1, round(wait_s / 60))), 429)
        response.headers["Retry-After"] = str(int(wait_s + 0.999))
        return response
    user = await run_in_threadpool(hub.store.verify_password, name, password) if name and password else None
    if user is None:
        hub.limiter.failed(name, client)
        logger.info("wrong password for %r from %s", name, client)
        return login_page(hub.settings, WRONG_LOGIN, 401)
    hub.limiter.succeeded(name, client)
    ttl = timedelta(hours=hub.settings.session_ttl_h)
    token = await run_in_threadpool(hub.store.create_session, user, ttl)
    logger.info("%s (%s) logged in from %s", user.name, user.role, client)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(ttl.total_seconds()), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    """POST /logout: end the session (if any), clear the cookie, 303 to /login."""
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(request.app.state.hotline.store.end_session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


def _cookie_token(headers: list[tuple[bytes, bytes]]) -> Optional[str]:
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                continue
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


async def session_user(store: TicketStore, token: Optional[str]) -> Optional[User]:
    if not token:
        return None
    return await run_in_threadpool(store.session_user, token)


class SessionGate:
    """ASGI middleware: HTTP requests other than /login need a session (303 to /login for pages, 401 JSON for
    /api/* and /static/*); the user is put in `request.state.user`. Websockets pass (they check themselves)."""

    def __init__(self, app, store: TicketStore):
        self.app = app
        self.store = store

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        user = await session_user(self.store, _cookie_token(scope["headers"]))
        if user is None:
            path = scope["path"]
            if path.startswith(("/api/", "/static/")) or path in ("/api", "/static"):
                response: Response = JSONResponse({"error": "not logged in: log in at /login first"}, status_code=401)
            else:
                response = RedirectResponse("/login", status_code=303)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def origin_allowed(websocket: WebSocket, settings: ServerSettings) -> bool:
    """The websocket's Origin is the server's own (the Host it was reached at) or one of `allowed_origins`.
    A request without an Origin header is not from a browser page (browsers always send one), so no other site's
    page can be behind it; it is allowed (the session cookie is still required)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return origin in (f"{scheme}://{host}", *settings.allowed_origins)


async def websocket_user(websocket: WebSocket, store: TicketStore) -> Optional[User]:
    return await session_user(store, websocket.cookies.get(COOKIE))
