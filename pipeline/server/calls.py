"""One websocket call: the recording, the live session's feeding thread, the events sent to the page.

Each call is a ticket from the moment it connects (source "live", or "fallback" beyond `max_live`) and a WAV file
under data_dir/recordings that grows as frames arrive (its header is right after every frame, so a call survives
a crash of the server). A live call drives a `CallSession` through `pipeline.live.run_session` in its own thread:
the websocket's receive loop puts each frame on a thread-safe queue (`FrameQueue`), whose batches are everything
queued since the previous one, and `on_update` posts events back to the event loop. Decodes run on the
scheduler's worker, never on the event loop.

Whatever ends a call (hang-up, a closed socket, a bad frame, the length limit, a failed live decode), it ends
with a ticket: a live call's session is finished and saved; a fallback call's recording, or that of a live call
whose recogniser failed, is drafted after hang-up by the `AfterCallDrafter`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
import time
import wave
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from asr.hygiene import clean_word
from pipeline.base.types import AudioChunk
from pipeline.call import CallPipeline
from pipeline.live import Batch, SessionUpdate, run_session
from pipeline.output import result_to_dict, ticket_to_dict
from pipeline.store import TicketStore, User

from .drafting import AfterCallDrafter, DraftJob, Recogniser
from .scheduler import LIVE, DecodeScheduler

logger = logging.getLogger(__name__)

__all__ = [
    "BUSY_MESSAGE", "CallDesk", "FrameQueue", "Recording", "ServerCall", "loop_finisher", "loop_poster", "open_call", "recording_path",
    "update_events",
]  # fmt: skip

SAMPLE_RATE_HZ = 16000
BUSY_MESSAGE = "实时转写已满，本次通话仅录音：挂断后将根据录音生成工单"
LIVE_FAILED_MESSAGE = "实时转写出错（{error}），通话继续录音：挂断后将根据录音生成工单"


def recording_path(folder: Path, kind: str, suffix: str = ".wav") -> Path:
    """A new, unique file name for a recording: <kind>-<UTC time>-<random>.<suffix>. (The ticket is created with
    its recording's path, so the name cannot be the ticket id.)"""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{kind}-{stamp}-{secrets.token_hex(4)}{suffix}"


class Recording:
    """A call's audio as it arrives: 16 kHz mono int16 WAV, flushed after every frame."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE_HZ)
        self._wav.writeframes(b"")  # the header, so even a call without audio leaves a valid file
        self._file.flush()
        self.samples = 0
        self.closed = False

    def write(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)  # wave rewrites the header's lengths after each write
        self._file.flush()
        self.samples += len(pcm) // 2

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wav.close()
            self._file.close()


class FrameQueue:
    """A thread-safe queue of audio chunks and the batch source over it (like `pipeline.live.capture_batches`):
    each batch is every chunk queued since the previous batch; the batches end after `end()`."""

    _END = None

    def __init__(self) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._open = True

    def put(self, chunk: AudioChunk, fed_wall_s: float) -> None:
        if self._open:
            self._q.put((chunk, fed_wall_s))

    def end(self) -> None:
        """No more audio: the batches end after what is queued."""
        if self._open:
            self._open = False
            self._q.put(self._END)

    def batches(self) -> Iterator[Batch]:
        while True:
            item = self._q.get()
            batch: Batch = []
            while item is not self._END:
                batch.append(item)
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield batch
            if item is self._END:
                return


def _text(words) -> str:
    return "".join(clean_word(w.text) for w in words)


def update_events(update: SessionUpdate, shown_tails: dict) -> list[dict]:
    """The page's events for one step: `committed` per run of one speaker's new words, `partial` for each
    speaker whose unstable tail changed (`shown_tails` remembers what the page shows), and `ticket_update`."""
    events: list[dict] = []
    run: list = []
    for timed in update.committed + (None,):
        if run and (timed is None or timed.speaker != run[0].speaker):
            text = _text(t.word for t in run)
            if text:
                events.append({"type": "committed", "speaker": run[0].speaker, "text": text,
                               "start_s": round(run[0].word.start_s, 3), "end_s": round(run[-1].word.end_s, 3),
                               "word_ends_s": [round(t.word.end_s, 3) for t in run]})  # fmt: skip
            run = []
        if timed is not None:
            run.append(timed)
    for speaker, tail in update.tails:
        text = _text(tail)
        if shown_tails.get(speaker, "") != text:
            shown_tails[speaker] = text
            events.append({"type": "partial", "speaker": speaker, "text": text})
    if update.ticket is not None:
        events.append({"type": "ticket_update", "ticket": ticket_to_dict(update.ticket)})
    return events


class CallDesk:
    """Counts the live calls (at most `max_live`) and keeps their threads, so shutdown can wait for them."""

    def __init__(self, max_live: int):
        self.max_live = max_live
        self._lock = threading.Lock()
        self._live = 0
        self._threads: set[threading.Thread] = set()

    @property
    def live_calls(self) -> int:
        with self._lock:
            return self._live

    def try_live(self) -> bool:
        with self._lock:
            if self._live >= self.max_live:
                return False
            self._live += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._live -= 1

    def track(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()} | {thread}

    def join(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s` in all) for the live calls' threads to finish their tickets."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class ServerCall:
    """One call from connect to ticket. Built on the event loop; `feed` and `hang_up` are called there.

    Args:
        ticket_id: the call's ticket (created at connect).
        live: a live call (else a fallback: recorded, drafted after hang-up).
        recording: where its audio is written.
        post: puts an event for the page on the event loop's outbox (thread-safe).
        finish: called once with the last event (`ticket_final`, `queued` or `error`), from any thread.
    """

    def __init__(self, ticket_id: int, live: bool, recording: Recording, *, pipeline: CallPipeline, store: TicketStore,
                 scheduler: DecodeScheduler, drafter: AfterCallDrafter, desk: CallDesk, recogniser: Recogniser,
                 post: Callable[[dict], None], finish: Callable[[dict], None]):  # fmt: skip
        self.ticket_id = ticket_id
        self.live = live
        self.recording = recording
        self._store = store
        self._drafter = drafter
        self._desk = desk
        self._post = post
        self._finish = finish
        self._frames = FrameQueue()
        self._ended = threading.Event()
        self._released = not live
        self._thread: Optional[threading.Thread] = None
        if live:
            make = lambda: recogniser(scheduler.backend(f"call-{ticket_id}", LIVE))  # noqa: E731
            self._session = pipeline.session(audio=str(recording.path), recogniser=make)
            self._thread = threading.Thread(target=self._run_live, name=f"hotline-call-{ticket_id}", daemon=True)
            desk.track(self._thread)
            self._thread.start()

    @property
    def samples(self) -> int:
        return self.recording.samples

    def feed(self, pcm: bytes) -> None:
        """One frame of int16 little-endian PCM (even length, checked by the caller)."""
        start_s = self.recording.samples / SAMPLE_RATE_HZ
        self.recording.write(pcm)
        if self.live:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            self._frames.put(AudioChunk(samples, SAMPLE_RATE_HZ, start_s), time.monotonic())

    def hang_up(self) -> None:
        """The call is over (idempotent; safe in a `finally` of a cancelled handler): the recording is closed,
        then a live session finishes in its thread, or a fallback call's recording is queued for drafting."""
        if self._ended.is_set():
            return
        self.recording.close()
        self._frames.end()
        self._ended.set()
        logger.info("ticket %d: call ended after %.1f s of audio (%s)", self.ticket_id, self.samples / SAMPLE_RATE_HZ,
                    "live" if self.live else "fallback")  # fmt: skip
        if not self.live:
            self._queue_drafting()

    def _queue_drafting(self) -> None:
        self._drafter.submit(DraftJob(self.ticket_id, self.recording.path, self.recording.path.name, self.samples))
        self._finish({"type": "queued", "ticket_id": self.ticket_id})

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._desk.release()

    def _on_update(self, update: SessionUpdate) -> None:
        self._words_shown += len(update.committed)
        for event in update_events(update, self._shown_tails):
            self._post(event)

    def _run_live(self) -> None:
        self._shown_tails: dict = {}
        self._words_shown = 0
        try:
            outcome = run_session(self._session, self._frames.batches(), self._on_update)
            if outcome.error is not None:
                raise outcome.error
            # the words the hang-up committed (finish() has no update of its own), and the tails cleared
            last = tuple(self._session.words[self._words_shown :])
            self._on_update(SessionUpdate(last, self._session.tails(), 0, None))
            stored = self._store.save_draft(self.ticket_id, result_to_dict(outcome.result))
            self._release()
            logger.info("ticket %d: drafted live (lag p95 %.2f s, ready %.2f s after the last audio)", self.ticket_id,
                        outcome.latency.lag_p95_s, outcome.ticket_ready_s)  # fmt: skip
            self._finish({"type": "ticket_final", "ticket": stored.to_dict()})
        except Exception as e:  # the recogniser failed: the recording goes on and is drafted after hang-up
            logger.exception("ticket %d: live transcription failed", self.ticket_id)
            self._release()
            self._frames.end()
            self._post({"type": "error", "message": LIVE_FAILED_MESSAGE.format(error=e)})
            self._ended.wait()
            try:
                self._queue_drafting()
            except Exception as e2:
                logger.exception("ticket %d: could not queue the recording for drafting", self.ticket_id)
                self._store.fail(self.ticket_id, f"live transcription failed ({e}) and drafting could not start ({e2})")
                self._finish({"type": "error", "message": f"工单生成失败：{e2}"})


def loop_poster(loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue) -> Callable[[dict], None]:
    """A thread-safe `post` onto `outbox` (dropped once the loop is closed: the page has gone)."""

    def post(event: dict) -> None:
        try:
            loop.call_soon_threadsafe(outbox.put_nowait, event)
        except RuntimeError:
            pass

    return post


def loop_finisher(loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Callable[[dict], None]:
    """A thread-safe, call-once setter of `future` (for `ServerCall.finish`)."""

    def finish(event: dict) -> None:
        def set_result() -> None:
            if not future.done():
                future.set_result(event)

        try:
            loop.call_soon_threadsafe(set_result)
        except RuntimeError:
            pass

    return finish


def open_call(user: User, store: TicketStore, desk: CallDesk, recordings: Path) -> tuple[int, bool, Recording]:
    """Create the call's ticket and its recording (blocking: run it in a thread). Returns (ticket id, live, recording)."""
    live = desk.try_live()
    try:
        recording = Recording(recording_path(recordings, "live" if live else "fallback"))
        try:
            ticket = store.create_ticket(user, "live" if live else "fallback", audio=str(recording.path))
        except BaseException:
            recording.close()
            recording.path.unlink(missing_ok=True)
            raise
    except BaseException:
        if live:
            desk.release()
        raise
    return ticket.id, live, recording
