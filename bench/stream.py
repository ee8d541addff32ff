"""Streaming benchmark: replay long recordings through the live path on a real-time clock.

    python bench/stream.py [--manifest ../shared/eval/audio/manifest.jsonl] [--speed 1] [--limit N] [--virtual-clock]
    python bench/stream.py --capture [--limit N]

For each long-form item: replay at `--speed` through CallSession (the same path as `hotline replay`), then
transcribe the same audio offline with WhisperEngine (batch). Reports word lag percentiles (commit wall time
minus the wall time the word's last sample was fed), "ticket ready" (wall time from feeding the last sample to
the final ticket), streaming vs offline CER (normalised as ../shared/eval/audio/README.md says), and the
process's RSS growth during each replay (peak minus the RSS when it began, after a warm-up replay; the
offline decodes run after all replays). The last line reports the largest growth. The last line is machine-readable.

`--virtual-clock` replays on a simulated clock instead: each decode moves the clock on by a cost model of this
machine (see VirtualClock), so the decode schedule, and with it the streamed text, is the same on every run.
Real-time runs differ by about +-0.01 CER from run to run because the schedule follows the wall clock; use the
virtual clock to compare settings, and a real-time run for the lag and ticket-ready numbers.

`--capture` measures `hotline live` against `hotline replay` on the same files, side by side. It starts a private
PulseAudio server with a 16 kHz null sink (tests/pulse.py; needs the apt packages pulseaudio pulseaudio-utils
libasound2-plugins and the 'live' extra), and for each item plays it into the sink with paplay while the product's
live path records the sink's monitor (open_capture -> capture_batches -> run_session), then replays the same audio
at speed 1 (Replay.batches, as `hotline replay`). The capture run ends like the replay: `end_s` is where the file's
last sample falls in the captured stream (its audio at 0.2-0.5 s is found there by cross-correlation before the session
is fed; see capture_run), so the batch that reaches it goes straight to finish() in both runs. "Ticket ready" is
measured from the file's last sample in both: CallOutcome.ticket_ready_s counts from the last sample fed, which
for a capture is later (its last batch also holds what was captured after the file while the loop decoded), so
the table shows it too, in brackets. The last line is machine-readable: lag percentiles (CallOutcome's: from each
word's fed time) over every word of every item, ticket ready of the worst item, for each path.

Diagnostics on stderr: where the file landed; for the batches the loop waited for, how long after their fed time
(capture_batches: start of capture + audio time, or when in hand if earlier) they arrived; and the lag of each
path measured from when each word was spoken. The last differs from CallOutcome's for replay: a replay chunk holds
everything due since the last batch and carries the time its last sample was due, so while the loop decodes
(about a second) the words early in the next chunk get a fed time after they were spoken; a capture feeds 0.1 s
blocks, each with its own time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import load_audio  # noqa: E402
from asr.engine import WhisperEngine  # noqa: E402
from asr.metrics import cer  # noqa: E402
from pipeline.base.config import AsrOptions, PipelineConfig, StreamingOptions  # noqa: E402
from pipeline.call import CallPipeline  # noqa: E402
from pipeline.live import Replay, run_session  # noqa: E402

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "audio" / "manifest.jsonl"


class VirtualClock:
    """A clock that only moves when told: by the replay's sleeps and by each decode's modelled cost.

    Cost of one streaming decode on 2 cores, Whisper base int8 (measured 2026-12-01 with faster-whisper 1.2.1):
    0.45 s for the 30 s encoder pass, features, alignment and VAD, plus 8 ms per generated token with greedy
    search, times 1 + 0.25 (beam - 1) for a wider beam (beam 5 measured at 2x greedy). Tokens are estimated
    from the words returned (1.15 per character, plus 10 for timestamps). The decoder alone measures 6.5-8 ms
    per token; the upper end stands in for what a real replay also pays (VAD, ticket drafting), so the modelled
    lag comes out near a real-time run's (0.42 s + 6.6 ms, the first model, came out 0.2-0.4 s low).
    """

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds) + 1e-6  # never exactly on a chunk boundary, where rounding would stall replay

    def timed(self, engine: WhisperEngine) -> None:
        """Make every streaming decode of `engine` advance this clock by its modelled cost."""
        decode = engine.transcribe_words

        def transcribe_words(samples, final=False, beam_size=None):
            words = decode(samples, final=final, beam_size=beam_size)
            tokens = 1.15 * sum(len(w.text) for w in words) + 10
            self.t += 0.45 + 0.008 * (1 + 0.25 * ((beam_size or engine.options.beam_size) - 1)) * tokens
            return words

        engine.transcribe_words = transcribe_words


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=0, help="at most N long-form items (0 = all)")
    ap.add_argument("--options", default="{}", help='StreamingOptions as JSON, e.g. \'{"context_s": 10}\'')
    ap.add_argument("--no-offline", action="store_true", help="skip the offline transcription (no CER ratio)")
    ap.add_argument("--virtual-clock", action="store_true", help="replay on a simulated clock (repeatable text; lag is modelled)")
    ap.add_argument("--capture", action="store_true",
                    help="play each file into a private PulseAudio null sink, record it through the live path, and "
                         "compare with its replay")  # fmt: skip
    args = ap.parse_args(argv)
    if args.capture and (args.virtual_clock or args.speed != 1.0):
        ap.error("--capture plays in real time: it does not take --virtual-clock or --speed")

    root = args.manifest.parent
    items = [json.loads(x) for x in args.manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    items = [it for it in items if it["path"].startswith("longform/")]
    if args.limit:
        items = items[: args.limit]
    options = StreamingOptions(**json.loads(args.options))
    engine = WhisperEngine(AsrOptions())
    pipeline = CallPipeline(PipelineConfig(streaming=options), engine=engine)
    clock = VirtualClock() if args.virtual_clock else None
    now = clock.now if clock else time.monotonic

    # warm-up: a minute replayed through the whole live path, so one-time allocations (the largest window,
    # context plus buffer, and the decoder's caches at their longest) are not counted as growth
    longest = max(items, key=lambda it: it.get("duration_s", 0.0))
    warm = load_audio(root / longest["path"]).mono()[: 16000 * 60]
    run_session(pipeline.session(), Replay([warm], [None]).batches(speed=0))
    if args.capture:
        return capture_vs_replay(items, root, pipeline, options)
    if clock:
        clock.timed(engine)

    rows, lags, ready, audios = [], [], [], []
    e_s = n_s = e_o = n_o = 0
    rss_growth = 0.0
    for it in items:
        audio = load_audio(root / it["path"]).mono()
        audios.append(audio)
        session = pipeline.session(audio=it["path"], clock=now)
        rss_start = rss_mb()
        peak = [rss_start]
        timeline: list[float] = []  # RSS at each update, to tell a plateau from a climb

        def on_update(_u, peak=peak, timeline=timeline):
            timeline.append(rss_mb())
            peak[0] = max(peak[0], timeline[-1])

        replay = Replay([audio], [None])
        outcome = run_session(session, replay.batches(args.speed, clock=now, sleep=clock.sleep if clock else time.sleep), on_update,
                              end_s=replay.end_s)  # fmt: skip
        result, ticket_s = outcome.result, outcome.ticket_ready_s
        growth = max(peak[0], rss_mb()) - rss_start
        rss_growth = max(rss_growth, growth)
        lat = outcome.latency
        lags += [w.lag_s for w in session.words]
        ready.append(ticket_s)
        e, n = cer(it["text"], result.transcript.text)
        e_s, n_s = e_s + e, n_s + n
        rows.append(
            dict(path=it["path"], minutes=len(audio) / 16000 / 60, cer_stream=e / n, lag_p50=lat.lag_p50_s, lag_p95=lat.lag_p95_s,
                 ticket_ready_s=ticket_s, rss_growth_mb=growth)
        )  # fmt: skip
        quarters = [timeline[min(len(timeline) - 1, len(timeline) * q // 4)] - rss_start for q in (1, 2, 3, 4)] if timeline else []
        print(f"  {it['path']}: {rows[-1]}; RSS growth at 1/4, 1/2, 3/4, end: {[round(x, 1) for x in quarters]} MB", file=sys.stderr)
    if not args.no_offline:  # after every replay, so batch decoding's 30 s buffers do not count as replay growth
        for it, audio, row in zip(items, audios, rows):
            offline = "".join(s.text for s in sorted(engine.transcribe(audio), key=lambda s: s.start_s))
            eo, no = cer(it["text"], offline)
            e_o, n_o = e_o + eo, n_o + no
            row["cer_offline"] = eo / no

    lag = np.array(lags)
    print()
    clock_kind = "virtual clock (modelled lag)" if clock else "real time"
    print(f"Streaming benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, Whisper base int8, speed {args.speed}, {clock_kind}, {options}")
    print("| item | audio min | CER stream | CER offline | lag p50 s | lag p95 s | ticket ready s | RSS growth MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['path']} | {r['minutes']:.1f} | {r['cer_stream']:.3f} | {r.get('cer_offline', float('nan')):.3f} | "
            f"{r['lag_p50']:.2f} | {r['lag_p95']:.2f} | {r['ticket_ready_s']:.2f} | {r['rss_growth_mb']:.1f} |"
        )
    cer_o = e_o / n_o if n_o else float("nan")
    print(
        f"lag_p50_s={np.percentile(lag, 50):.2f} lag_p95_s={np.percentile(lag, 95):.2f} ticket_ready_s={max(ready):.2f} "
        f"cer_stream={e_s / n_s:.4f} cer_offline={cer_o:.4f} rss_growth_mb={rss_growth:.1f}"
    )
    return 0


# ---------------------------------------------------------------------------------------------- --capture

SINK = "benchsink"


class _Fed:
    """The product's capture batches, passed through unchanged (first the `held` ones), keeping the audio and
    noting, for each batch the loop had to wait for (so it was taken the moment it arrived), how long after its
    fed time it arrived."""

    def __init__(self, held: list, rest) -> None:
        self.samples: list[np.ndarray] = [c.samples for batch in held for c, _ in batch]
        self.first_start_s: float = held[0][0][0].start_s  # the session's stream time 0 on the capture's clock
        self.late_s: list[float] = []  # arrival minus fed time of each batch waited for
        self.batches = len(held)
        self._held, self._rest = held, rest

    def __iter__(self):
        yield from self._held
        while True:
            asked = time.monotonic()
            try:
                batch = next(self._rest)
            except StopIteration:
                return
            got = time.monotonic()
            self.batches += 1
            self.samples += [c.samples for c, _ in batch]
            if got - asked > 0.002:
                self.late_s.append(got - batch[-1][1])
            yield batch


def _origin(batches, out: list):
    """Pass replay batches through, putting in `out` the wall time of the recording's start (fed = it + chunk end)."""
    for batch in batches:
        if not out:
            chunk, fed = batch[0]
            out.append(fed - chunk.start_s - chunk.duration_s)
        yield batch


def _spoken_lags(session, origin_wall_s: float) -> list[float]:
    """Each word's lag from when its last sample was spoken (the session's stream time on the wall clock), not from
    the fed time of the chunk that held it: a replay chunk holds everything due since the last batch and carries the
    time its LAST sample was due, so a word early in a long chunk gets a fed time after it was spoken."""
    return [w.committed_wall_s - (origin_wall_s + w.word.end_s) for w in session.words]


def _find(captured: np.ndarray, probe: np.ndarray) -> tuple[int, float]:
    """Where `probe` lies whole in `captured` (sample offset) by normalised cross-correlation, and the correlation there."""
    if len(captured) < len(probe):
        return 0, 0.0
    n = 1 << int(np.ceil(np.log2(len(captured) + len(probe))))
    xc = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(probe, n)), n)[: len(captured) - len(probe) + 1]
    energy = np.concatenate([[0.0], np.cumsum(captured.astype(np.float64) ** 2)])
    window = np.sqrt(np.maximum(energy[len(probe) :] - energy[: -len(probe)], 1e-12))  # normalised: loud speech later
    pos = int(np.argmax(xc / window))  # in the buffer must not outweigh the match
    return pos, _corr(captured[pos : pos + len(probe)], probe)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) != len(b) or not a.std() > 0 or not b.std() > 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


# The long-form files begin with speech: their audio from 0.2 to 0.5 s is found in the capture within a block or two
# of being played. Not from 0: a new PulseAudio stream's first ~0.1 s comes out of a null sink's monitor as silence
# and then a fade (measured: correlation 0.12 for 50-100 ms, 1.000 from 100 ms on).
PROBE_S = (0.2, 0.5)
FIND_TIMEOUT_S = 10.0


def capture_run(pulse, pipeline: CallPipeline, audio: np.ndarray, wav: Path, label: str):
    """Play `wav` into the private sink while `hotline live`'s path records its monitor. Returns the outcome,
    the session and a dict of diagnostics.

    The capture runs as `hotline live` does (open_capture, capture_batches, run_session), with one addition:
    `end_s`, which live calls do not know, so that the batch that reaches the file's end goes straight to
    finish() as in a replay. It is exact: the batches are held until the file's audio at PROBE_S is found in them
    (cross-correlation), then fed with the fed times capture_batches gave them. Holding them changes no decode:
    the first decode needs min_step_s (1 s) of audio, and the file's first 0.5-0.6 s is all that is held.
    """
    from asr.capture import open_capture
    from pipeline.live import capture_batches

    duration_s = len(audio) / 16000
    probe = audio[int(PROBE_S[0] * 16000) : int(PROBE_S[1] * 16000)]
    capture = open_capture(pulse.pcm[SINK], backend="sounddevice")  # as `hotline live --device hotline_benchsink`
    session = pipeline.session([i.speaker for i in capture.inputs], audio=label)
    player = None
    try:
        with capture:
            batches = capture_batches(capture)
            # a null sink's monitor takes up to 2 s to deliver its first block: play once the capture delivers
            held = [next(batches)]
            t_play = time.monotonic()
            player = pulse.play(SINK, wav)
            while True:
                held.append(next(batches))
                pos, corr = _find(np.concatenate([c.samples for batch in held for c, _ in batch]), probe)
                if corr >= 0.9:
                    break
                if time.monotonic() - t_play > FIND_TIMEOUT_S:
                    raise RuntimeError(f"{label}: the played audio did not show up in the capture within {FIND_TIMEOUT_S:g} s")
            found = time.monotonic()
            pos -= int(PROBE_S[0] * 16000)  # where the file begins
            fed = _Fed(held, batches)
            end_s = pos / 16000 + duration_s  # the session's stream time starts at the first sample fed
            outcome = run_session(session, fed, hangup_silence_s=0, end_s=end_s)
        if not outcome.ok or outcome.reason != "end of audio":
            raise RuntimeError(f"the capture of {label} ended early ({outcome.reason}): its numbers would not be comparable")
    except BaseException:
        if player is not None and player.poll() is None:
            player.kill()
            player.wait(timeout=10)
        raise
    _, err = player.communicate(timeout=duration_s + 30)
    if player.returncode != 0:
        raise RuntimeError(f"paplay {wav} failed ({player.returncode}): {err.decode(errors='replace').strip()}")
    captured = np.concatenate(fed.samples)
    origin_wall_s = capture.started_s + fed.first_start_s  # the session's stream time 0 on the capture's clock
    last_fed = session.last_fed_wall_s
    diag = dict(
        device_rate_hz=capture.inputs[0].rate_hz or capture.inputs[0].device.default_rate_hz,
        first_block_s=fed.first_start_s, play_at_s=t_play - capture.started_s, file_at_s=fed.first_start_s + pos / 16000,
        held_ms=(sum(len(c.samples) for batch in held for c, _ in batch) - pos) / 16, found_after_ms=(found - t_play) * 1000,
        corr=_corr(captured[pos : pos + len(audio)], audio),  # the whole file came through (no drops, no drift)
        fed_past_end_ms=(session.stream_end_s - end_s) * 1000,
        late_ms=np.array(fed.late_s) * 1000, batches=fed.batches, stats=capture.stats(),
        spoken=_spoken_lags(session, origin_wall_s),
        ticket_ready_file_end_s=outcome.ticket_ready_s + last_fed - (origin_wall_s + end_s),
    )  # fmt: skip
    return outcome, session, diag


def capture_vs_replay(items: list[dict], root: Path, pipeline: CallPipeline, options: StreamingOptions) -> int:
    """--capture: for each item, a capture run through a private PulseAudio null sink, then a replay at speed 1."""
    import tempfile

    import soundfile as sf

    from tests.pulse import PrivatePulse

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # unwind: stop paplay and the server
    rows = []
    lags: dict[str, list[float]] = {"capture": [], "replay": []}
    spoken: dict[str, list[float]] = {"capture": [], "replay": []}  # diagnostic: lag from when each word was spoken
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp, PrivatePulse({SINK: 16000}) as pulse:
        for it in items:
            audio = load_audio(root / it["path"]).mono()
            wav = Path(tmp) / Path(it["path"]).name
            sf.write(wav, audio, 16000, subtype="PCM_16")  # the long-form files are 16 kHz 16-bit: the same samples
            load0 = os.getloadavg()[0]
            cap, cap_session, diag = capture_run(pulse, pipeline, audio, wav, it["path"])
            replay = Replay([audio], [None])  # as `hotline replay FILE --speed 1`
            rep_session = pipeline.session(replay.speakers, audio=it["path"])
            origin: list[float] = []
            rep = run_session(rep_session, _origin(replay.batches(speed=1), origin), hangup_silence_s=0, end_s=replay.end_s)
            row = dict(path=it["path"], minutes=len(audio) / 16000 / 60, diag=diag, load=(load0, os.getloadavg()[0]))
            for name, outcome, session in (("capture", cap, cap_session), ("replay", rep, rep_session)):
                e, n = cer(it["text"], outcome.result.transcript.text)
                lat = outcome.latency
                row[name] = dict(cer=e / n, p50=lat.lag_p50_s, p95=lat.lag_p95_s, ready=outcome.ticket_ready_s)
                lags[name] += [w.lag_s for w in session.words]
            # replay's last batch ends at the file's end; capture's holds whatever came after it too (the loop
            # was busy decoding): measured from the file's end on the capture's clock, both count the same wait
            row["capture"]["ready_end"] = diag["ticket_ready_file_end_s"]
            row["replay"]["ready_end"] = rep.ticket_ready_s
            rows.append(row)
            spoken["capture"] += diag["spoken"]
            spoken["replay"] += _spoken_lags(rep_session, origin[0])
            st, late = diag["stats"][0], np.append(diag["late_ms"], 0.0)
            print(
                f"  {it['path']}: capture {row['capture']}, replay {row['replay']}; device {diag['device_rate_hz']} Hz, "
                f"first block at {diag['first_block_s']:.2f} s, paplay at {diag['play_at_s']:.2f} s, "
                f"file at {diag['file_at_s']:.3f} s (found {diag['found_after_ms']:.0f} ms after paplay started, "
                f"{diag['held_ms']:.0f} ms of it held; whole file corr "
                f"{diag['corr']:.3f}), last batch {diag['fed_past_end_ms']:.0f} ms "
                f"past it; {len(late) - 1} of {diag['batches']} batches waited for, arriving after their fed time by "
                f"p50 {np.percentile(late, 50):.0f} ms, p95 {np.percentile(late, 95):.0f} ms, max {late.max():.0f} ms; "
                f"overflows {st.overflows}, "
                f"dropped blocks {st.dropped_blocks}; load avg {row['load'][0]:.2f} -> {row['load'][1]:.2f}",
                file=sys.stderr,
            )  # fmt: skip

    print()
    print(f"Streaming benchmark, capture vs replay — {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, "
          "Whisper base int8, paplay -> PulseAudio null sink (16 kHz) -> monitor -> ALSA pulse -> sounddevice, "
          f"replay at speed 1, {options}")  # fmt: skip
    print("ticket ready: from the file's last sample (capture: on the capture's clock; in brackets CallOutcome.ticket_ready_s, "
          "from the last sample fed)")  # fmt: skip
    print("| item | audio min | CER capture | CER replay | lag p50 s capture | lag p50 s replay | lag p95 s capture "
          "| lag p95 s replay | ticket ready s capture | ticket ready s replay |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, p = r["capture"], r["replay"]
        print(f"| {r['path']} | {r['minutes']:.1f} | {c['cer']:.3f} | {p['cer']:.3f} | {c['p50']:.2f} | {p['p50']:.2f} | "
              f"{c['p95']:.2f} | {p['p95']:.2f} | {c['ready_end']:.2f} ({c['ready']:.2f}) | {p['ready']:.2f} |")  # fmt: skip
    for name in ("capture", "replay"):
        sp = np.array(spoken[name])
        print(f"{name}: lag from when each word was spoken (not from its chunk's fed time) p50 {np.percentile(sp, 50):.2f} s, "
              f"p95 {np.percentile(sp, 95):.2f} s", file=sys.stderr)  # fmt: skip
    values = {}
    for name in ("capture", "replay"):
        lag = np.array(lags[name])
        values[name] = (np.percentile(lag, 50), np.percentile(lag, 95), max(r[name]["ready_end"] for r in rows))
    (c50, c95, cready), (r50, r95, rready) = values["capture"], values["replay"]
    print(f"lag_p50_capture_s={c50:.2f} lag_p95_capture_s={c95:.2f} ticket_ready_capture_s={cready:.2f} "
          f"lag_p50_replay_s={r50:.2f} lag_p95_replay_s={r95:.2f} ticket_ready_replay_s={rready:.2f}")  # fmt: skip
    return 0

if __name__ == "__main__":
    sys.exit(main())
