"""Memory benchmark: peak RSS of a batch run, short against long, and RSS growth of a long replayed call.

    python bench/memory.py                                   # 5 min and 2 h batch, 30 min replay (about 45-60 min)
    python bench/memory.py --batch-only                      # the two batch runs alone
    python bench/memory.py --replay-only --replay-minutes 30
    python bench/memory.py --short-minutes 0.5 --long-minutes 2 --replay-minutes 1 --first-minute 0.25 --block-s 20  # smoke test

The recordings are built from the long-form eval audio (../shared/eval/audio/longform/*.wav, 6.5 min), repeated
with 0.5 s of silence between clips to the length asked for, and written as 16 kHz mono 16-bit WAV into a temp
folder that is deleted afterwards (`--keep DIR` writes them there instead and keeps them).

Each measurement runs in its own subprocess, so peaks do not mix and every run starts from a fresh process:
- batch: `CallPipeline().process(path)`, as `hotline transcribe` runs each file (model loaded on first audio).
  Peak = the child's `ru_maxrss`. The issue's target: the long recording's peak within 1.3x the short one's.
- replay: the recording decoded whole (`load_audio`, as `hotline replay` does), then fed at speed 0 through
  `CallPipeline().session()` and `pipeline.live.run_session(session, Replay([audio], [None]).batches(speed=0), ...)`.
  A thread samples VmRSS every 50 ms. Three readings of "growth after the first minute" (the first `--first-minute`
  of audio fed), all printed: `growth` = the largest RSS after it minus the one sample taken when it was reached
  (a sample that falls between two decodes reads low: the engine gives a decode's working memory back after it);
  `peak growth` = the largest RSS after it minus the largest during it (how much more the process ever needs than
  it needed in its first minute); `retained growth` = the same for the RSS between decodes (the lowest sample in
  each 10 s of audio), which is what a leak would raise. The target: under 50 MB for a 30-minute call.

The table goes to stdout, with a last line that is machine-readable:
`peak_batch_5min_mb=… peak_batch_2h_mb=… ratio_2h_vs_5min=… replay_30min_growth_after_1min_mb=… replay_30min_peak_growth_mb=… replay_30min_retained_growth_mb=…` (the key names
stay the same whatever the sizes; the table says what was run; a part not run is `n/a`).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LONGFORM = REPO.parent / "shared" / "eval" / "audio" / "longform"
RATE_HZ = 16000
GAP_S = 0.5


def rss_mb() -> float:
    """The current resident set size (VmRSS) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """The process's peak RSS so far (ru_maxrss, kB on Linux) in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_recording(path: Path, minutes: float, source: Path) -> float:
    """Write `minutes` of the source clips, repeated with GAP_S of silence between them, as 16 kHz mono 16-bit WAV
    (a block at a time: the whole recording is never in memory). Returns its duration in seconds."""
    clips = []
    for f in sorted(source.glob("*.wav")):
        with wave.open(str(f), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE_HZ):
                raise SystemExit(f"{f}: expected 16 kHz mono 16-bit PCM")
            clips.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"))
    if not clips:
        raise SystemExit(f"no .wav files in {source} (pass --source DIR)")
    gap = np.zeros(int(GAP_S * RATE_HZ), dtype="<i2")
    left = int(minutes * 60 * RATE_HZ)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE_HZ)
        i = 0
        while left > 0:
            piece = np.concatenate((clips[i % len(clips)], gap))[:left]
            out.writeframes(piece.tobytes())
            left -= len(piece)
            i += 1
    return int(minutes * 60 * RATE_HZ) / RATE_HZ


# --- the children ---------------------------------------------------------------------------------------------------


def _set_block(block_s: float) -> None:
    if block_s:
        import asr.audio

        asr.audio.BLOCK_S = block_s


def child_batch(path: Path, block_s: float) -> dict:
    from pipeline.call import CallPipeline

    _set_block(block_s)
    start = rss_mb()
    pipe = CallPipeline()
    _ = pipe.engine  # load Whisper now, to report its share
    loaded = rss_mb()
    t0 = time.perf_counter()
    result = pipe.process(path)
    wall = time.perf_counter() - t0
    return {"audio_s": result.duration_s, "wall_s": wall, "segments": len(result.transcript.segments),
            "rss_start_mb": start, "rss_model_loaded_mb": loaded, "peak_mb": peak_mb()}  # fmt: skip


def child_replay(path: Path, first_minute: float) -> dict:
    from asr.audio import load_audio
    from pipeline.call import CallPipeline
    from pipeline.live import Replay, run_session

    audio = load_audio(path).mono()
    replay = Replay([audio], [None])
    pipe = CallPipeline()
    session = pipe.session()
    fed_s = [0.0]
    samples: list[tuple[float, float]] = []  # (audio seconds fed, RSS MB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append((fed_s[0], rss_mb()))

    def batches():
        for batch in replay.batches(speed=0):
            fed_s[0] = max(chunk.start_s + chunk.duration_s for chunk, _ in batch)
            samples.append((fed_s[0], rss_mb()))
            yield batch

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    outcome = run_session(session, batches(), end_s=replay.end_s)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    samples.append((fed_s[0], rss_mb()))
    first_s = first_minute * 60
    at_first = next((rss for fed, rss in samples if fed >= first_s), samples[-1][1])
    before = [rss for fed, rss in samples if fed < first_s] or [at_first]
    after = [rss for fed, rss in samples if fed >= first_s] or [at_first]
    quarters = [max([rss for fed, rss in samples if fed <= replay.end_s * q / 4] or [0.0]) for q in (1, 2, 3, 4)]
    # the RSS a decode leaves behind: the lowest RSS in each 10 s of audio fed (between decodes)
    floors: dict[int, float] = {}
    for fed, rss in samples:
        floors[int(fed // 10)] = min(rss, floors.get(int(fed // 10), rss))
    floor_first = floors.get(int(first_s // 10), at_first)
    floor_after = max([v for k, v in floors.items() if k >= int(first_s // 10)] or [floor_first])
    return {"audio_s": replay.end_s, "wall_s": wall, "ok": outcome.ok, "words": outcome.latency.words,
            "rss_at_first_minute_mb": at_first, "rss_max_after_mb": max(after), "growth_mb": max(after) - at_first,
            "peak_first_minute_mb": max(before), "peak_growth_mb": max(after) - max(before),
            "floor_first_minute_mb": floor_first, "floor_max_after_mb": floor_after, "floor_growth_mb": floor_after - floor_first,
            "rss_max_by_quarter_mb": quarters, "peak_mb": peak_mb()}  # fmt: skip


def run_child(kind: str, path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(path), "--block-s", str(args.block_s),
           "--first-minute", str(args.first_minute)]  # fmt: skip
    print(f"running {kind} on {path.name} …", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} child failed on {path} (exit {done.returncode}); its stderr is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short-minutes", type=float, default=5.0, help="the short batch recording (default 5)")
    ap.add_argument("--long-minutes", type=float, default=120.0, help="the long batch recording (default 120)")
    ap.add_argument("--replay-minutes", type=float, default=30.0, help="the replayed call (default 30)")
    ap.add_argument("--first-minute", type=float, default=1.0, 
                    help="replay growth is measured from this many minutes of audio on (default 1)")
    ap.add_argument("--batch-only", action="store_true", help="only the two batch runs")
    ap.add_argument("--replay-only", action="store_true", help="only the replay")
    ap.add_argument("--block-s", type=float, default=0.0, help="override asr.audio.BLOCK_S in the children (smoke tests)")
    ap.add_argument("--source", type=Path, default=LONGFORM, help="folder of 16 kHz mono WAV clips to build the recordings from")
    ap.add_argument("--keep", type=Path, help="write the recordings here and keep them (default: a temp folder, deleted)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        kind, path = args.child[0], Path(args.child[1])
        result = child_batch(path, args.block_s) if kind == "batch" else child_replay(path, args.first_minute)
        print(json.dumps(result))
        return 0
    if args.batch_only and args.replay_only:
        ap.error("--batch-only and --replay-only exclude each other")

    folder = args.keep or Path(tempfile.mkdtemp(prefix="hotline-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, dict]] = []
    try:
        if not args.replay_only:
            for label, minutes in (("batch short", args.short_minutes), ("batch long", args.long_minutes)):
                path = folder / f"batch_{minutes:g}min.wav"
                build_recording(path, minutes, args.source)
                rows.append((label, minutes, run_child("batch", path, args)))
        if not args.batch_only:
            path = folder / f"replay_{args.replay_minutes:g}min.wav"
            build_recording(path, args.replay_minutes, args.source)
            rows.append(("replay speed 0", args.replay_minutes, run_child("replay", path, args)))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)

    print("| run | audio min | wall s | peak RSS MB | RSS model loaded MB | RSS at first minute MB | max RSS after MB "
          "| growth MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for label, _, r in rows:
        cells = [label, f"{r['audio_s'] / 60:.1f}", f"{r['wall_s']:.0f}", f"{r['peak_mb']:.0f}"]
        cells.append(f"{r['rss_model_loaded_mb']:.0f}" if "rss_model_loaded_mb" in r else "")
        if "growth_mb" in r:
            cells += [f"{r['rss_at_first_minute_mb']:.0f}", f"{r['rss_max_after_mb']:.0f}", f"{r['growth_mb']:.1f}"]
        else:
            cells += ["", "", ""]
        print("| " + " | ".join(cells) + " |")
    for label, _, r in rows:
        if "rss_max_by_quarter_mb" in r:
            print(f"{label}: max RSS by quarter of the call: {[round(x) for x in r['rss_max_by_quarter_mb']]} MB; "
                  f"{r['words']} words committed, ok={r['ok']}")  # fmt: skip
            print(f"{label}: peak RSS in the first minute {r['peak_first_minute_mb']:.0f} MB, after it {r['rss_max_after_mb']:.0f} MB "
                  f"(peak growth {r['peak_growth_mb']:.1f} MB); RSS between decodes (lowest per 10 s of audio) at the first "
                  f"minute {r['floor_first_minute_mb']:.0f} MB, highest after it {r['floor_max_after_mb']:.0f} MB "
                  f"(retained growth {r['floor_growth_mb']:.1f} MB)")  # fmt: skip
    by = {label: r for label, _, r in rows}
    short, long_, replay = by.get("batch short"), by.get("batch long"), by.get("replay speed 0")
    fields = {
        "peak_batch_5min_mb": f"{short['peak_mb']:.0f}" if short else "n/a",
        "peak_batch_2h_mb": f"{long_['peak_mb']:.0f}" if long_ else "n/a",
        "ratio_2h_vs_5min": f"{long_['peak_mb'] / short['peak_mb']:.3f}" if short and long_ else "n/a",
        "replay_30min_growth_after_1min_mb": f"{replay['growth_mb']:.1f}" if replay else "n/a",
        "replay_30min_peak_growth_mb": f"{replay['peak_growth_mb']:.1f}" if replay else "n/a",
        "replay_30min_retained_growth_mb": f"{replay['floor_growth_mb']:.1f}" if replay else "n/a",
    }
    print(" ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
