"""Load benchmark of the operator console: a real `hotline serve`, 1, 2 and 4 callers at once over the websocket.

    python bench/serve_load.py [--rounds 1,2,4] [--seconds 120] [--max-live 2] [--audio-dir ../shared/eval/audio]

Starts `hotline serve` on 127.0.0.1 (a free port) with a temporary `--db sqlite:///…` and `--data-dir`, after adding
one operator account per caller (`hotline users add`, password on stdin); it is ready when a login works and
`GET /api/health` says ok. Each round connects its callers one after another (so with `--max-live 2` callers 1 and 2
go live and callers 3 and 4 get `busy`), then all stream at once, each through its own websocket (login cookie,
same-origin `Origin`), 100 ms frames of 16 kHz mono int16 paced by the wall clock (frame k is sent when its audio
has been "spoken", at t0 + (k+1)·0.1 s), then `{"type": "hangup"}`. The server is stopped with SIGINT at the end
(killed if it has not stopped in 60 s) and the temporary folder removed. Every address is 127.0.0.1.

The recordings. The long-form speech in ../shared/eval/audio/longform is three concatenations of the same speaker's
utterances (hhc), and the shorter two are the first 12 and next 28 utterances of the longest (80 utterances,
262 s, 0.4 s of digital silence between utterances): streaming them as three "different" calls would put the same
words in two calls and hide cross-talk. So the callers' recordings are disjoint slices of the 80-utterance file:
it is cut into as many runs of consecutive utterances as the largest round has callers, of about equal length
(4 callers: about 65 s each), at the silent gaps. Caller i always streams slice i (so the single caller of round 1
is also caller 1 of round 2). A slice shorter than `--seconds` is looped (its own utterances again, from its
first), so each caller's audio stays its own and cross-talk stays visible; the table shows how many seconds are
distinct. Each stream is cut at the last utterance gap that fits in `--seconds` (so it is at most that long).

The reference of a stream is the manifest's text of exactly the utterances streamed, in order: the manifest's
text of the 80-utterance file is its utterances separated by spaces, and the utterances are found in the audio as
the stretches between the 0.4 s runs of zeros (their count is checked against the text's), so the reference
covers exactly the span streamed, not a whole-clip reference against part of a clip.

What is measured, per session (one caller's call in one round):
- lag p50/p95 (live calls), per word as in the rest of the project: each word of a `committed` event has its end
  in stream time (`word_ends_s`), which gives the frame that holds it (the frame of sample end_s·16000 − 1); lag =
  the event's arrival at this client − when that frame was sent (after `send` returned). No word is skipped, those
  committed by the hang-up included. Percentiles are numpy's linear ones over the session's words.
- ready: hang-up sent → `ticket_final` arrives (live); for a call that got `busy` (or a live call that fell back
  after an error): hang-up sent → `GET /api/tickets/{id}` (polled every 0.2 s) shows it no longer "processing".
- CER of the committed text (live) or of the stored transcript (fallback) against the stream's reference:
  the project's scorer (`asr.metrics.cer`: OpenCC t2s, NFKC, letters and digits only, edit distance / reference).
- cross-talk: the session's text is scored against the reference of every caller's stream (same length, built
  the same way); a session is cross-talk when another stream's reference gives it a lower CER than its own.
- errors: `error` events, exceptions and timeouts in the client, an abnormal websocket close, a ticket that ends
  "failed" or never leaves "processing", and a session with no text at all.
- lost calls (after the last round): sessions whose call id (`ready`/`busy`) is not among the caller's tickets
  in `GET /api/tickets` (each operator sees their own), or that never got a call id.
Last line: sessions (the largest round), errors, crosstalk and lost_calls summed over every round, lag_p95_1 (the
1-caller round), lag_p95_2 (the worst p95 of the live sessions of the 2-caller round), their ratio, and
ticket_ready_max_s over every session. The client's own pacing slip (the latest a frame was sent after its time)
is shown per session: a large one means the client, not the server, fell behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import httpx
import numpy as np
import soundfile as sf
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.metrics import cer  # noqa: E402

DEFAULT_AUDIO_DIR = ROOT.parent / "shared" / "eval" / "audio"
LONGFORM = "longform/hhc_concat_2_80utt.wav"
SR = 16000
FRAME = 1600  # 100 ms
GAP_MIN_S = 0.3  # runs of zeros at least this long separate utterances (the file has 0.4 s ones)
COOKIE = "hotline_session"
POLL_S = 0.2


# --- the recordings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stream:
    """What one caller streams: int16 PCM, the reference of exactly that audio, and how much of it is distinct."""

    name: str
    pcm: np.ndarray
    reference: str
    distinct_s: float

    @property
    def seconds(self) -> float:
        return len(self.pcm) / SR


def load_utterances(audio_dir: Path) -> list[tuple[np.ndarray, str]]:
    """The 80-utterance long-form file as (utterance + the silence after it, text) pieces, cut in its gaps."""
    path = audio_dir / LONGFORM
    entry = next((json.loads(line) for line in open(audio_dir / "manifest.jsonl", encoding="utf-8")
                  if json.loads(line)["path"] == LONGFORM), None)  # fmt: skip
    if entry is None:
        raise SystemExit(f"{audio_dir / 'manifest.jsonl'}: no entry for {LONGFORM}")
    texts = entry["text"].split()
    pcm, sr = sf.read(path, dtype="int16", always_2d=True)
    if sr != SR or pcm.shape[1] != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {sr} Hz x {pcm.shape[1]} channels")
    pcm = pcm[:, 0]
    zero = np.concatenate([[0], (pcm == 0).astype(np.int8), [0]])
    edges = np.diff(zero)
    starts, ends = np.where(edges == 1)[0], np.where(edges == -1)[0]
    gaps = [(s, e) for s, e in zip(starts, ends) if e - s >= GAP_MIN_S * SR]
    # speech runs between the gaps; each piece runs from its speech start to the next speech start
    speech_starts = ([0] if not gaps or gaps[0][0] > 0 else []) + [e for _, e in gaps if e < len(pcm)]
    if len(speech_starts) != len(texts):
        raise SystemExit(f"{path}: found {len(speech_starts)} utterances between silent gaps, the manifest text has {len(texts)}")
    bounds = speech_starts[1:] + [len(pcm)]
    return [(pcm[a:b], t) for a, b, t in zip(speech_starts, bounds, texts)]


def build_streams(pieces: list[tuple[np.ndarray, str]], callers: int, seconds: float) -> list[Stream]:
    """`callers` disjoint runs of consecutive utterances of about equal length, each looped and cut to `seconds`."""
    lengths = np.array([len(p) for p, _ in pieces])
    cum = np.cumsum(lengths)
    cuts = [0] + [int(np.argmin(np.abs(cum - cum[-1] * j / callers))) + 1 for j in range(1, callers)] + [len(pieces)]
    streams = []
    for i in range(callers):
        group = pieces[cuts[i]:cuts[i + 1]]
        if not group:
            raise SystemExit(f"{LONGFORM} has too few utterances for {callers} different recordings")
        chosen: list[tuple[np.ndarray, str]] = []
        total, k = 0, 0
        while True:
            piece = group[k % len(group)]
            if chosen and total + len(piece[0]) > seconds * SR:
                break
            chosen.append(piece)
            total += len(piece[0])
            k += 1
        distinct = sum(len(p) for p, _ in chosen[: len(group)]) / SR
        name = f"utt{cuts[i] + 1}-{cuts[i] + min(len(chosen), len(group))}" + ("+loop" if len(chosen) > len(group) else "")
        pcm = np.concatenate([p for p, _ in chosen]).astype("<i2")
        streams.append(Stream(name, pcm, " ".join(t for _, t in chosen), distinct))
    return streams


# --- the server -----------------------------------------------------------------------------------------
def hotline_command() -> list[str]:
    script = Path(sys.executable).parent / "hotline"
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`hotline serve` in a subprocess, its accounts, its temporary database and data folder."""

    def __init__(self, max_live: int, extra: list[str], startup_timeout_s: float):
        self.tmp = Path(tempfile.mkdtemp(prefix="hotline-serve-load-"))
        self.db = f"sqlite:///{self.tmp / 'tickets.sqlite'}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.max_live = max_live
        self.extra = extra
        self.startup_timeout_s = startup_timeout_s
        self.log_path = self.tmp / "server.log"
        self.proc: Optional[subprocess.Popen] = None

    def add_user(self, name: str, password: str) -> None:
        cmd = hotline_command() + ["users", "add", name, "--role", "operator", "--db", self.db]
        done = subprocess.run(cmd, input=password + "\n", text=True, capture_output=True, timeout=180)
        if done.returncode != 0:
            raise SystemExit(f"`{shlex.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, login: tuple[str, str]) -> None:
        cmd = hotline_command() + ["-v", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                   "--max-live", str(self.max_live), "--db", self.db,
                                   "--data-dir", str(self.tmp / "data"), *self.extra]  # fmt: skip
        print(f"server: {shlex.join(cmd)}", flush=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + self.startup_timeout_s
        started = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"hotline serve exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            try:
                token = http_login(self.base, *login)
                with httpx.Client(base_url=self.base, cookies={COOKIE: token}, timeout=5, trust_env=False) as c:
                    health = c.get("/api/health").json()
                if health.get("ok"):
                    print(f"server ready after {time.monotonic() - started:.1f} s: {health}", flush=True)
                    return
            except (httpx.TransportError, RuntimeError, ValueError):
                pass
            time.sleep(0.5)
        raise SystemExit(f"hotline serve not ready after {self.startup_timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self, keep_log: Optional[Path] = None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print("server did not stop 60 s after SIGINT: killed", file=sys.stderr)
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc is not None:
            print(f"server stopped (exit status {self.proc.returncode})", flush=True)
            self._log.close()
        if keep_log is not None and self.log_path.exists():
            shutil.copyfile(self.log_path, keep_log)
            print(f"server log: {keep_log}")
        shutil.rmtree(self.tmp, ignore_errors=True)


def http_login(base: str, name: str, password: str) -> str:
    """POST /login → the session token (RuntimeError when refused)."""
    with httpx.Client(base_url=base, timeout=10, trust_env=False, follow_redirects=False) as c:
        r = c.post("/login", data={"name": name, "password": password})
        token = r.cookies.get(COOKIE)
        if r.status_code != 303 or not token:
            raise RuntimeError(f"login of {name!r} answered {r.status_code}")
        return token


# --- one call -------------------------------------------------------------------------------------------
@dataclass
class Session:
    caller: int
    stream: Stream
    call_id: Optional[int] = None
    mode: str = "-"
    lags: list[float] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    ready_s: Optional[float] = None
    text: str = ""
    status: str = "-"
    errors: list[str] = field(default_factory=list)
    slip_max_s: float = 0.0
    cer: Optional[float] = None
    crosstalk: bool = False
    closest: str = "-"

    def lag(self, q: float) -> Optional[float]:
        return float(np.percentile(self.lags, q)) if self.lags else None


async def open_call(session: Session, base: str, token: str):
    """Connect and read `ready`/`busy`; returns the websocket (None after an error, recorded)."""
    ws_url = base.replace("http://", "ws://") + "/ws/call"
    try:
        ws = await connect(ws_url, origin=base, additional_headers={"Cookie": f"{COOKIE}={token}"}, proxy=None,
                           open_timeout=30, max_size=2**24)  # fmt: skip
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
    except Exception as e:
        session.errors.append(f"connect: {e!r}")
        return None
    if first.get("type") not in ("ready", "busy"):
        session.errors.append(f"first event {first!r}")
    session.call_id = first.get("call_id")
    session.mode = "live" if first.get("live") else "fallback"
    return ws


async def run_call(session: Session, ws, t0: float, base: str, token: str, ticket_timeout_s: float) -> None:
    pcm = session.stream.pcm
    frames = math.ceil(len(pcm) / FRAME)
    sent = np.full(frames, np.nan)
    final: dict = {}
    hangup_at: list[float] = []

    async def receive() -> None:
        try:
            async for message in ws:
                arrived = time.monotonic()
                event = json.loads(message)
                kind = event.get("type")
                if kind == "committed":
                    session.committed.append(event.get("text") or "")
                    for end_s in event.get("word_ends_s") or [event["end_s"]]:
                        frame = min(max(int(round(float(end_s) * SR)) - 1, 0) // FRAME, frames - 1)
                        if math.isnan(sent[frame]):  # a word timed past what was sent: the latest frame sent
                            frame = int(np.nanargmax(sent)) if not np.all(np.isnan(sent)) else frame
                        session.lags.append(arrived - sent[frame])
                elif kind == "error":
                    session.errors.append(f"error event: {event.get('message')}")
                elif kind in ("ticket_final", "queued"):
                    final.update(event, arrived=arrived)
        except ConnectionClosedError as e:
            session.errors.append(f"websocket closed abnormally: {e}")

    receiver = asyncio.create_task(receive())
    try:
        async with asyncio.timeout(session.stream.seconds + 60):
            for k in range(frames):
                due = t0 + (k + 1) * FRAME / SR
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                session.slip_max_s = max(session.slip_max_s, time.monotonic() - due)
                await ws.send(pcm[k * FRAME:(k + 1) * FRAME].tobytes())
                sent[k] = time.monotonic()
            hangup_at.append(time.monotonic())
            await ws.send(json.dumps({"type": "hangup"}))
        async with asyncio.timeout(ticket_timeout_s):
            await receiver
            if final.get("type") == "ticket_final":
                session.ready_s = final["arrived"] - hangup_at[0]
                session.status = final["ticket"]["status"]
                session.text = "".join(session.committed)
            elif final.get("type") == "queued":
                if session.mode == "live":
                    session.mode = "live→fallback"
                async with httpx.AsyncClient(base_url=base, cookies={COOKIE: token}, timeout=10, trust_env=False) as c:
                    while True:
                        ticket = (await c.get(f"/api/tickets/{session.call_id}")).json()
                        if ticket.get("status") != "processing":
                            break
                        await asyncio.sleep(POLL_S)
                session.ready_s = time.monotonic() - hangup_at[0]
                session.status = ticket.get("status", "-")
                session.text = ((ticket.get("transcript") or {}).get("text")) or ""
                if session.status == "failed":
                    session.errors.append(f"ticket failed: {ticket.get('error')}")
            else:
                session.errors.append("no ticket_final or queued before the websocket closed")
    except TimeoutError:
        session.errors.append("timed out" + (" waiting for the ticket" if hangup_at else " while streaming"))
    except Exception as e:
        session.errors.append(f"{type(e).__name__}: {e}")
    finally:
        receiver.cancel()
        await ws.close()
    if session.status in ("-", "processing") and not session.errors:
        session.errors.append(f"ticket status {session.status!r} at the end")
    if not session.text.strip() and not session.errors:
        session.errors.append("no text")


async def run_round(n: int, streams: list[Stream], tokens: list[str], base: str, ticket_timeout_s: float) -> list[Session]:
    sessions = [Session(i + 1, streams[i]) for i in range(n)]
    sockets = [await open_call(s, base, tokens[i]) for i, s in enumerate(sessions)]  # one after another: live first
    t0 = time.monotonic() + 0.5
    await asyncio.gather(*(run_call(s, ws, t0, base, tokens[i], ticket_timeout_s)
                           for i, (s, ws) in enumerate(zip(sessions, sockets)) if ws is not None))  # fmt: skip
    for s in sessions:
        if s.text.strip():
            scores = {j: _cer(other.reference, s.text) for j, other in enumerate(streams)}
            s.cer = scores[s.caller - 1]
            best = min(scores, key=lambda j: scores[j])
            s.closest = streams[best].name
            s.crosstalk = scores[best] < s.cer
    return sessions


def _cer(reference: str, text: str) -> float:
    edits, length = cer(reference, text)
    return edits / max(length, 1)


def wait_idle(base: str, token: str, timeout_s: float = 300) -> dict:
    """Until no live call and no drafting is left (bounded), so one round does not spill into the next."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base, cookies={COOKIE: token}, timeout=10, trust_env=False) as c:
        while True:
            health = c.get("/api/health").json()
            if (health.get("live_calls") == 0 and health.get("queue") == 0) or time.monotonic() > deadline:
                return health
            time.sleep(POLL_S)


def ticket_ids(base: str, token: str) -> set[int]:
    ids: set[int] = set()
    with httpx.Client(base_url=base, cookies={COOKIE: token}, timeout=10, trust_env=False) as c:
        while True:
            page = c.get("/api/tickets", params={"limit": 1000, "offset": len(ids)}).json()
            ids |= {t["id"] for t in page["tickets"]}
            if not page["tickets"] or len(ids) >= page["total"]:
                return ids


# --- reporting ------------------------------------------------------------------------------------------
def _f(x: Optional[float], digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_round(n: int, sessions: list[Session]) -> None:
    print(f"\nround: {n} caller(s) at once")
    head = ("caller", "recording", "audio_s", "distinct_s", "mode", "call", "events", "lag_p50", "lag_p95", "lag_max",
            "ready_s", "CER", "closest", "status", "slip_max", "errors")  # fmt: skip
    rows = [head]
    for s in sessions:
        rows.append((str(s.caller), s.stream.name, _f(s.stream.seconds, 1), _f(s.stream.distinct_s, 1), s.mode,
                     str(s.call_id), str(len(s.lags)), _f(s.lag(50)), _f(s.lag(95)), _f(max(s.lags) if s.lags else None),
                     _f(s.ready_s), _f(s.cer, 3), s.closest + (" CROSS-TALK" if s.crosstalk else ""), s.status,
                     _f(s.slip_max_s, 3), str(len(s.errors))))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for s in sessions:
        for e in s.errors:
            print(f"  caller {s.caller}: {e}")


def machine_line() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=30).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = " (+ uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return (f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {os.cpu_count()} cores, {model} · load average {_load()} · "
            f"Python {platform.python_version()} · commit {commit}{dirty}")  # fmt: skip


def _load() -> str:
    """The 1/5/15-minute load averages: other work on the machine shows in the lag."""
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", default="1,2,4", help="callers at once in each round (default 1,2,4)")
    ap.add_argument("--seconds", type=float, default=120.0, help="audio per call, cut at a silent gap (default 120)")
    ap.add_argument("--max-live", type=int, default=2, help="hotline serve --max-live (default 2)")
    ap.add_argument("--audio-dir", type=Path, default=DEFAULT_AUDIO_DIR, help="../shared/eval/audio")
    ap.add_argument("--ticket-timeout", type=float, default=600.0, help="the longest wait for a ticket after hang-up (s)")
    ap.add_argument("--startup-timeout", type=float, default=300.0, help="the longest wait for the server to be ready (s)")
    ap.add_argument("--serve-args", default="", help="more `hotline serve` options, e.g. '--beam-size 5'")
    ap.add_argument("--server-log", type=Path, help="keep the server's log (hotline -v serve) in this file")
    args = ap.parse_args()
    rounds = [int(x) for x in args.rounds.split(",") if x.strip()]
    if not rounds or min(rounds) < 1 or args.seconds <= 0:
        ap.error("--rounds needs positive caller counts and --seconds a positive length")
    callers = max(rounds)

    streams = build_streams(load_utterances(args.audio_dir), callers, args.seconds)
    print(f"serve_load — {machine_line()}")
    shown = ", ".join(f"{s.name} {s.seconds:.1f} s ({s.distinct_s:.1f} s distinct)" for s in streams)
    print(f"recordings: disjoint slices of {LONGFORM}: {shown}")
    passwords = [secrets.token_urlsafe(12) for _ in range(callers)]
    names = [f"bench-caller-{i + 1}" for i in range(callers)]
    server = Server(args.max_live, shlex.split(args.serve_args), args.startup_timeout)
    all_sessions: list[tuple[int, list[Session]]] = []
    try:
        for name, password in zip(names, passwords):
            server.add_user(name, password)
        server.start((names[0], passwords[0]))
        tokens = [http_login(server.base, n, p) for n, p in zip(names, passwords)]
        for n in rounds:
            sessions = asyncio.run(run_round(n, streams, tokens, server.base, args.ticket_timeout))
            print_round(n, sessions)
            health = wait_idle(server.base, tokens[0])
            print(f"  after the round: {health} · load average {_load()}", flush=True)
            all_sessions.append((n, sessions))
        owned = [ticket_ids(server.base, t) for t in tokens]
        lost = sum(1 for _, ss in all_sessions for s in ss if s.call_id is None or s.call_id not in owned[s.caller - 1])
    except BaseException:
        print(f"server log (last lines):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop(args.server_log)

    everyone = [s for _, ss in all_sessions for s in ss]
    errors = sum(len(s.errors) for s in everyone)
    crosstalk = sum(s.crosstalk for s in everyone)
    one = [s.lag(95) for n, ss in all_sessions if n == 1 for s in ss if s.lags]
    two = [s.lag(95) for n, ss in all_sessions if n == 2 for s in ss if s.mode == "live" and s.lags]
    p95_1 = one[0] if one else None
    p95_2 = max(two) if two else None
    ratio = p95_2 / p95_1 if p95_1 and p95_2 is not None else None
    ready = [s.ready_s for s in everyone if s.ready_s is not None]
    ready_max = max(ready) if ready else None
    print(f"\nsessions={callers} errors={errors} crosstalk={crosstalk} lost_calls={lost} lag_p95_1={_f(p95_1)} "
          f"lag_p95_2={_f(p95_2)} lag_ratio_2_vs_1={_f(ratio)} ticket_ready_max_s={_f(ready_max)}")
    return 0 if errors == crosstalk == lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
