"""Streaming benchmark: replay long recordings through the live path on a real-time clock.

    python bench/stream.py [--manifest ../shared/eval/audio/manifest.jsonl] [--speed 1] [--limit N] [--virtual-clock]

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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    args = ap.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
