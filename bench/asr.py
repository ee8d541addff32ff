"""ASR benchmark: our pipeline vs plain faster-whisper, same model and decoding settings, side by side.

    python bench/asr.py [--manifest ../shared/eval/audio/manifest.jsonl] [--limit N] [--model base]

"plain" = faster-whisper's `WhisperModel.transcribe` on the same decoded audio with the same language,
beam size, VAD and word-timestamp settings, and no prompt, hotwords or text hygiene. "ours" = `WhisperEngine`.
Both use one loaded model; each item is run by both, alternating which goes first.

CER is scored as ../shared/eval/audio/README.md says (OpenCC t2s, NFKC, letters and digits only), summed
over items then divided. Groups: `reference` (reference + prompt_text items, not synthetic, not long-form),
`telephone` (reference(derived)), `longform`. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import load_audio  # noqa: E402
from asr.engine import WhisperEngine  # noqa: E402
from asr.hygiene import traditional_chars  # noqa: E402
from asr.metrics import cer  # noqa: E402
from pipeline.base.config import AsrOptions  # noqa: E402

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "audio" / "manifest.jsonl"
GROUPS = ("reference", "telephone", "longform")


def group_of(item: dict) -> str | None:
    if item.get("synthetic"):
        return None
    if item["path"].startswith("longform/"):
        return "longform"
    if item["transcript_type"] == "reference(derived)":
        return "telephone"
    if item["transcript_type"] in ("reference", "prompt_text"):
        return "reference"
    return None


def run_plain(engine: WhisperEngine, samples) -> str:
    kw = engine.decode_options().kwargs()  # the product's batch settings
    kw.update(initial_prompt=None, hotwords=None)
    segments, _ = engine.model.transcribe(samples, **kw)
    return "".join(s.text for s in segments)


def run_ours(engine: WhisperEngine, samples) -> str:
    # re-decoded (skipped) speech comes last from the generator; the transcript is in time order, as in the product
    return "".join(s.text for s in sorted(engine.transcribe(samples), key=lambda s: s.start_s))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--model", default="base")
    ap.add_argument("--limit", type=int, default=0, help="at most N items per group (0 = all)")
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--cpu-threads", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write per-item results here")
    args = ap.parse_args(argv)

    root = args.manifest.parent
    items = [json.loads(line) for line in args.manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = set(args.groups.split(","))
    per_group: dict[str, list[dict]] = {g: [] for g in GROUPS if g in wanted}
    for it in items:
        g = group_of(it)
        if g in per_group and (not args.limit or len(per_group[g]) < args.limit):
            per_group[g].append(it)

    engine = WhisperEngine(AsrOptions(model=args.model, cpu_threads=args.cpu_threads))
    warm = load_audio(root / per_group[next(iter(per_group))][0]["path"]).mono()
    run_plain(engine, warm), run_ours(engine, warm)  # warm-up, not timed

    stats = {g: dict(items=0, audio_s=0.0, e=0, n=0, e_plain=0, n_plain=0, t=0.0, t_plain=0.0, trad=0, trad_plain=0) for g in per_group}
    rows = []
    k = 0
    for g, group_items in per_group.items():
        for it in group_items:
            samples = load_audio(root / it["path"]).mono()
            runs = [("ours", run_ours), ("plain", run_plain)]
            if k % 2:
                runs.reverse()
            k += 1
            out = {}
            for name, fn in runs:
                t0 = time.perf_counter()
                out[name] = fn(engine, samples)
                out[name + "_t"] = time.perf_counter() - t0
            s = stats[g]
            e, n = cer(it["text"], out["ours"])
            ep, npl = cer(it["text"], out["plain"])
            s["items"] += 1
            s["audio_s"] += len(samples) / 16000
            s["e"] += e
            s["n"] += n
            s["e_plain"] += ep
            s["n_plain"] += npl
            s["t"] += out["ours_t"]
            s["t_plain"] += out["plain_t"]
            s["trad"] += traditional_chars(out["ours"])
            s["trad_plain"] += traditional_chars(out["plain"])
            rows.append(dict(path=it["path"], group=g, ref=it["text"], ours=out["ours"], plain=out["plain"], cer=e / max(n, 1), cer_plain=ep / max(npl, 1)))
            print(f"  {g:9s} {it['path'][:60]:60s} cer {e / max(n, 1):.3f} plain {ep / max(npl, 1):.3f}", file=sys.stderr)

    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")

    print()
    print(f"ASR benchmark — {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, model {args.model} ({engine.info.device}/{engine.info.compute_type})")
    print("| group | items | audio min | CER ours | CER plain | RTF ours | RTF plain | time ours/plain | Traditional chars ours / plain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for g, s in stats.items():
        if not s["items"]:
            continue
        print(
            f"| {g} | {s['items']} | {s['audio_s'] / 60:.1f} | {s['e'] / max(s['n'], 1):.3f} | {s['e_plain'] / max(s['n_plain'], 1):.3f} | "
            f"{s['t'] / s['audio_s']:.3f} | {s['t_plain'] / s['audio_s']:.3f} | {s['t'] / max(s['t_plain'], 1e-9):.2f} | {s['trad']} / {s['trad_plain']} |"
        )
    tot_t = sum(s["t"] for s in stats.values())
    tot_tp = sum(s["t_plain"] for s in stats.values())
    tot_a = sum(s["audio_s"] for s in stats.values())
    trad = sum(s["trad"] for s in stats.values())
    ref = stats.get("reference") or next(iter(stats.values()))
    print(
        f"cer={ref['e'] / max(ref['n'], 1):.4f} cer_plain={ref['e_plain'] / max(ref['n_plain'], 1):.4f} "
        f"rtf={tot_t / tot_a:.4f} rtf_plain={tot_tp / tot_a:.4f} traditional_chars={trad}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
