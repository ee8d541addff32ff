"""The console's HTTP side on fakes: nothing without a session, login and its rate limit, who sees which ticket,
the ticket actions, exports, uploads and their limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from test_server_fakes import PASSWORD, login, make_app, speech, wait_for, wav_bytes


@pytest.fixture
def app_parts(tmp_path, ticket_builder):
    return make_app(tmp_path, ticket_builder)


@pytest.fixture
def client(app_parts):
    with TestClient(app_parts[0]) as c:
        yield c


def _ticket(store, owner: str, source: str = "upload", drafted: bool = True):
    from test_server_fakes import _result

    t = store.create_ticket(store.get_user(owner), source)
    return store.save_draft(t.id, _result()) if drafted else t


ROUTES = [
    ("GET", "/api/me"), ("GET", "/api/health"), ("GET", "/api/tickets"), ("GET", "/api/tickets/1"),
    ("PATCH", "/api/tickets/1"), ("POST", "/api/tickets/1/confirm"), ("POST", "/api/tickets/1/dispatch"),
    ("GET", "/api/tickets/export.csv"), ("GET", "/api/tickets/export.json"), ("POST", "/api/uploads"),
    ("GET", "/api/nonexistent"), ("GET", "/static/app.js"), ("GET", "/static/missing.js"),
]  # fmt: skip


@pytest.mark.parametrize("method,path", ROUTES)
def test_server_api_refused_without_session(client, method, path):
    r = client.request(method, path, json={"fields": {"category": "x"}} if method == "PATCH" else None)
    assert r.status_code == 401
    assert "log in" in r.json()["error"]


@pytest.mark.parametrize("path", ["/", "/index.html", "/anything"])
def test_server_pages_redirect_to_login_without_session(client, path):
    r = client.get(path, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


@pytest.mark.parametrize("cookie", [None, "forged-token"])
def test_server_websocket_refused_without_session(client, cookie):
    if cookie:
        client.cookies.set("hotline_session", cookie)
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect("/ws/call") as ws:
            ws.receive_json()
    assert e.value.code == 4401


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://testserver.evil.example"])
def test_server_websocket_refuses_a_foreign_origin(client, origin):
    login(client, "op1")
    with pytest.raises(WebSocketDisconnect) as e:
        with client.websocket_connect("/ws/call", headers={"origin": origin}) as ws:
            ws.receive_json()
    assert e.value.code == 4403


@pytest.mark.parametrize("origin", ["https://desk.example.org"])
def test_server_websocket_takes_an_allowed_origin(tmp_path, ticket_builder, origin):
    app, _, _ = make_app(tmp_path, ticket_builder, allowed_origins=(origin,))
    with TestClient(app) as client:
        login(client, "op1")
        with client.websocket_connect("/ws/call", headers={"origin": origin}) as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_json({"type": "hangup"})
            assert ws.receive_json()["type"] == "ticket_final"


@pytest.mark.parametrize("name", ["op1"])
def test_server_login_sets_a_strict_httponly_cookie(client, name):
    assert client.get("/login").status_code == 200
    r = client.post("/login", data={"name": name, "password": PASSWORD}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/")
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("hotline_session=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie and "secure" not in cookie
    assert client.get("/api/me").json() == {"name": name, "role": "operator"}
    assert client.get("/", follow_redirects=False).status_code == 200
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("base_url", ["https://testserver"])
def test_server_login_over_https_sets_a_secure_cookie(app_parts, base_url):
    with TestClient(app_parts[0], base_url=base_url) as client:
        r = client.post("/login", data={"name": "op1", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_server_login_wrong_password_is_401_with_the_message(client, password):
    r = client.post("/login", data={"name": "op1", "password": password}, follow_redirects=False)
    assert r.status_code == 401
    assert "账号或密码错误" in r.text and "set-cookie" not in r.headers
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("failures", [5])
def test_server_login_is_rate_limited_per_name_and_address(client, failures):
    for _ in range(failures):
        assert client.post("/login", data={"name": "op1", "password": "wrong-password"}).status_code == 401
    r = client.post("/login", data={"name": "op1", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and "retry-after" in r.headers  # even the right password, until the window passes
    assert client.get("/api/me").status_code == 401
    login(client, "op2")  # another account from the same address is not locked out


@pytest.mark.parametrize("name", ["op1"])
def test_server_logout_ends_the_session(client, name):
    login(client, name)
    token = client.cookies.get("hotline_session")
    r = client.post("/logout", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    client.cookies.set("hotline_session", token)  # the old cookie no longer works
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("viewer,sees", [("op2", False), ("boss", True), ("op1", True)])
def test_server_operator_sees_only_own_tickets(app_parts, viewer, sees):
    app, store, _ = app_parts
    ticket = _ticket(store, "op1")
    with TestClient(app) as client:
        login(client, viewer)
        r = client.get(f"/api/tickets/{ticket.id}")
        assert r.status_code == (200 if sees else 404)
        listed = client.get("/api/tickets").json()
        assert ([t["id"] for t in listed["tickets"]], listed["total"]) == (([ticket.id], 1) if sees else ([], 0))
        edit = client.patch(f"/api/tickets/{ticket.id}", json={"fields": {"category": "道路"}})
        assert edit.status_code == (200 if sees else 404)
        if not sees:
            assert "not found" in r.json()["error"]


@pytest.mark.parametrize("department", ["市政管理局"])
def test_server_ticket_edit_confirm_dispatch(app_parts, department):
    app, store, _ = app_parts
    ticket = _ticket(store, "op1")
    with TestClient(app) as client:
        login(client, "op1")
        path = f"/api/tickets/{ticket.id}"
        r = client.post(f"{path}/dispatch")
        assert r.status_code == 409 and "confirmed" in r.json()["error"]
        r = client.patch(path, json={"fields": {"department": department, "time_limit_hours": "2"}})
        assert r.status_code == 200 and r.json()["fields"]["department"] == department
        r = client.patch(path, json={"fields": {"colour": "red"}})
        assert r.status_code == 400 and "colour" in r.json()["error"]
        r = client.patch(path, json={"category": "x"})
        assert r.status_code == 400 and "fields" in r.json()["error"]
        assert client.post(f"{path}/confirm").json()["status"] == "confirmed"
        done = client.post(f"{path}/dispatch").json()
        assert done["status"] == "dispatched" and done["status_label"] == "已派单" and done["due_at"]
        full = client.get(path).json()
        assert [(e["field"], e["new"], e["user"]) for e in full["edits"]] == [("department", department, "op1"),
                                                                              ("time_limit_hours", "2", "op1")]  # fmt: skip
        assert full["draft"]["category"]["value"] == "路灯" and full["transcript"]["text"]
        listed = client.get("/api/tickets", params={"status": "dispatched"}).json()["tickets"]
        assert [t["id"] for t in listed] == [ticket.id] and "transcript" not in listed[0] and "draft" not in listed[0]


@pytest.mark.parametrize("param,value", [("date_from", "yesterday"), ("status", "lost"), ("limit", "0"), ("limit", "x")])
def test_server_bad_filter_is_400_naming_it(client, param, value):
    login(client, "boss")
    r = client.get("/api/tickets", params={param: value})
    assert r.status_code == 400
    assert param in r.json()["error"] or value in r.json()["error"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_server_export_is_for_supervisors(app_parts, fmt):
    app, store, _ = app_parts
    ids = [_ticket(store, "op1").id, _ticket(store, "op2").id]
    with TestClient(app) as client:
        login(client, "op1")
        r = client.get(f"/api/tickets/export.{fmt}")
        assert r.status_code == 403 and "supervisor" in r.json()["error"]
        login(client, "boss")
        r = client.get(f"/api/tickets/export.{fmt}", params={"q": "路灯"})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        if fmt == "csv":
            lines = r.content.decode("utf-8-sig").splitlines()
            assert lines[0].startswith("id,owner,source,status") and len(lines) == 3
            assert {line.split(",")[0] for line in lines[1:]} == {str(i) for i in ids}
        else:
            data = r.json()
            assert data["total"] == 2 and {t["id"] for t in data["tickets"]} == set(ids)
            assert all(t["transcript"]["text"] for t in data["tickets"])


@pytest.mark.parametrize("live", [0])
def test_server_health_reports_the_desk(client, live):
    login(client, "op1")
    assert client.get("/api/health").json() == {"ok": True, "live_calls": live, "max_live": 2, "queue": 0, "decode_workers": 1,
                                                 "decodes_waiting": 0}


@pytest.mark.parametrize("filename", ["broken call.mp3"])
def test_server_upload_of_a_broken_file_fails_its_ticket_naming_the_file(client, filename):
    login(client, "op1")
    r = client.post("/api/uploads", files={"file": (filename, b"not audio at all" * 100, "audio/mpeg")})
    assert r.status_code == 202 and r.json()["status"] == "processing"
    ticket = wait_for(client, r.json()["ticket_id"])
    assert ticket["status"] == "failed" and filename in ticket["error"] and ticket["source"] == "upload"


@pytest.mark.parametrize("text", ["路灯坏了,我家门口"])
def test_server_upload_is_drafted_in_the_background(client, text):
    login(client, "op1")
    r = client.post("/api/uploads", files={"file": ("call.wav", wav_bytes(speech(text)), "audio/wav")})
    assert r.status_code == 202
    ticket = wait_for(client, r.json()["ticket_id"])
    assert ticket["status"] == "draft", ticket["error"]
    assert ticket["transcript"]["text"].replace("。", "").replace("，", "") == text.replace(",", "")
    assert [t["id"] for t in client.get("/api/tickets").json()["tickets"]] == [r.json()["ticket_id"]]


@pytest.mark.parametrize("limit_mb", [0.05])
def test_server_upload_over_the_limit_is_413(tmp_path, ticket_builder, limit_mb):
    app, store, _ = make_app(tmp_path, ticket_builder, max_upload_mb=limit_mb)
    with TestClient(app) as client:
        login(client, "op1")
        big = wav_bytes(speech("路灯" * 20))
        assert len(big) > limit_mb * 2**20 * 2
        r = client.post("/api/uploads", files={"file": ("long.wav", big, "audio/wav")})
        assert r.status_code == 413 and f"{limit_mb:g} MB" in r.json()["error"]
        assert client.get("/api/tickets").json()["total"] == 0
        r = client.post("/api/uploads", files={"other": ("x.wav", b"x", "audio/wav")})
        assert r.status_code == 400 and "'file'" in r.json()["error"]
    assert not list((tmp_path / "data" / "recordings").iterdir())


@pytest.mark.parametrize("limit_mb", [0.05])
def test_server_upload_without_length_over_the_limit_is_413(tmp_path, ticket_builder, limit_mb):
    """A chunked body (no Content-Length) is counted as it comes and refused once it passes the limit."""
    app, _, _ = make_app(tmp_path, ticket_builder, max_upload_mb=limit_mb)
    boundary = "hotlineboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode()  # fmt: skip

    def body():
        yield head
        for _ in range(200):  # 200 × 8 KiB = 1.6 MB, far past the limit
            yield b"\x00" * 8192
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(app) as client:
        login(client, "op1")
        r = client.post("/api/uploads", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413 and "limit" in r.json()["error"]
        assert client.get("/api/tickets").json()["total"] == 0


@pytest.mark.parametrize("module", ["pipeline.server", "pipeline.server.app", "pipeline.server.api", "pipeline.server.auth",
                                    "pipeline.server.calls", "pipeline.server.drafting", "pipeline.server.scheduler",
                                    "pipeline.server.settings"])  # fmt: skip
def test_server_all_names_exist(module):
    import importlib

    mod = importlib.import_module(module)
    assert all(getattr(mod, name, None) is not None for name in mod.__all__), module


@pytest.mark.parametrize("module", ["pipeline.server"])
def test_server_import_loads_no_engine(module):
    """Importing the server loads no Whisper (create_app loads the pipeline's engine, once)."""
    import subprocess
    import sys

    code = f"import sys, {module}; print('faster_whisper' in sys.modules or 'ctranslate2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("field,value", [("port", 70000), ("max_live", -1), ("max_frame_bytes", 1), ("max_upload_mb", 0),
                                         ("allowed_origins", ("desk.example.org",)), ("allowed_origins", ["http://a"])])  # fmt: skip
def test_server_settings_name_the_bad_field(tmp_path, field, value):
    from pipeline.base.errors import ConfigError
    from pipeline.server import ServerSettings

    with pytest.raises(ConfigError, match=f"Invalid {field}="):
        ServerSettings(data_dir=tmp_path, **{field: value})


def test_server_every_route_of_the_app_is_refused_without_session(client, app_parts):
    """Not only the routes listed above: every HTTP route the app has (a route added later included) answers
    401 or a redirect to the login page without a session; only the login page itself is public."""
    from starlette.routing import Mount, Route

    def flat(routes):
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI's included router
            yield from flat(inner.routes) if inner is not None else (route,)

    seen = 0
    for route in flat(app_parts[0].routes):
        if isinstance(route, Mount):
            paths, methods = [route.path + "/app.js"], {"GET"}
        elif isinstance(route, Route):
            paths, methods = [route.path.replace("{ticket_id}", "1")], set(route.methods or {"GET"}) - {"HEAD"}
        else:
            continue  # the websocket: test_server_websocket_refused_without_session
        for path in paths:
            for method in methods:
                r = client.request(method, path, follow_redirects=False)
                seen += 1
                if path == "/login":
                    assert r.status_code in (200, 401, 422), (method, path)
                else:
                    assert r.status_code == 401 or (r.status_code, r.headers.get("location")) == (303, "/login"), (method, path, r.status_code)
    assert seen >= 14


@pytest.mark.parametrize("path", ["/login", "/api/tickets", "/"])
def test_server_responses_carry_security_headers(client, path):
    r = client.get(path, follow_redirects=False)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
