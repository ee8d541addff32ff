"""Decode workers: one Whisper decode at a time on every thread, or several decodes at once on a share each.

    python bench/decode_workers.py [--configs 1x0,2x1,2x2] [--rounds 4] [--window-s 18]

What `hotline serve --decode-workers` chooses between. Each configuration loads the embedded model as the server
does (`WhisperEngine(AsrOptions(workers=W, cpu_threads=T))`; T = 0 is the engine's default: CTranslate2's own
count for one worker, the cores shared out for several), warms it up, then times, side by side in one run:
- alone: one streaming window decode (`transcribe_words`, greedy, as a live call's partial decode) with nothing
  else running, the mean of `--rounds` decodes: what a call that is alone waits for;
- two at once: two threads, each a "call" decoding its own window `--rounds` times in a row, through the same
  `DecodeScheduler` the server uses (W workers); the wall time for all 2·rounds decodes, and the work rate
  relative to the first configuration's one-at-a-time rate (2·rounds·alone_1 / wall): above 1 means two calls
  get through their decodes faster than one decode at a time would.
The windows are 18 s stretches of the long-form eval speech (../shared/eval/audio/longform, two different places),
about the window a live call decodes (12 s of context plus the new audio).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr.engine import WhisperEngine  # noqa: E402
from pipeline.base.config import AsrOptions  # noqa: E402
from pipeline.server.scheduler import LIVE, DecodeScheduler  # noqa: E402

LONGFORM = REPO.parent / "shared" / "eval" / "audio" / "longform" / "hhc_concat_2_80utt.wav"
SR = 16000


def parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for item in text.split(","):
        workers, _, threads = item.partition("x")
        configs.append((int(workers), int(threads or 0)))
    return configs


def measure(workers: int, threads: int, windows: list[np.ndarray], rounds: int) -> tuple[float, float, int]:
    """(mean seconds of one decode alone, wall seconds of two calls' decodes at once, threads per decode)."""
    engine = WhisperEngine(AsrOptions(workers=workers, cpu_threads=threads))
    for w in windows:
        engine.transcribe_words(w, beam_size=1)  # warm-up, both replicas' allocators included
    t0 = time.perf_counter()
    for _ in range(rounds):
        engine.transcribe_words(windows[0], beam_size=1)
    alone = (time.perf_counter() - t0) / rounds
    with DecodeScheduler(engine) as scheduler:

        def call(name: str, window: np.ndarray) -> None:
            backend = scheduler.backend(name, LIVE)
            for _ in range(rounds):
                backend.transcribe_words(window, beam_size=1)

        threads_ = [threading.Thread(target=call, args=(f"call-{i}", w)) for i, w in enumerate(windows)]
        t0 = time.perf_counter()
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
        both = time.perf_counter() - t0
    return alone, both, engine.info.cpu_threads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="1x0,2x0,2x2", help="WORKERSxTHREADS,… (threads 0: the engine's default)")
    ap.add_argument("--rounds", type=int, default=4, help="decodes per call (default 4)")
    ap.add_argument("--window-s", type=float, default=18.0, help="seconds of audio per window (default 18)")
    args = ap.parse_args()
    if not LONGFORM.exists():
        raise SystemExit(f"{LONGFORM}: not found (the long-form eval speech in ../shared)")
    audio, sr = sf.read(LONGFORM, dtype="float32")
    n = int(args.window_s * SR)
    windows = [audio[30 * SR : 30 * SR + n], audio[100 * SR : 100 * SR + n]]
    print(f"decode workers — {time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores, {platform.processor() or platform.machine()} · "
          f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())} · Whisper base int8 · {args.window_s:g} s windows · {args.rounds} rounds")  # fmt: skip
    print(f"{'workers':>7} {'threads':>7} {'alone_s':>8} {'two_calls_wall_s':>16} {'work_rate_vs_1x':>15}")
    base = None
    for workers, threads in parse_configs(args.configs):
        alone, both, used = measure(workers, threads, windows, args.rounds)
        base = base if base is not None else alone
        rate = 2 * args.rounds * base / both
        print(f"{workers:>7} {used or 'default':>7} {alone:>8.2f} {both:>16.2f} {rate:>15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
