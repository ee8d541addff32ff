"""Summary measures for bench/tickets.py on the spoken dev calls (annotated_dev.jsonl: `spoken`, `summary`).

* ROUGE-L: ``score_tickets.py``'s own ``rouge_l`` (imported from the file, so the number is the scorer's), for the
  drafted summary and for the lead-60 baseline (the call's first 60 characters), in the same run.
* faithfulness (`summarize.faithful.unsupported_facts`, the product's own check): a summary is faithful when every
  number, place and named party in it occurs in the transcript (that module's docstring says how each is matched).
  A name the caller did not say (a district the summary added, a party it guessed, 路口 made from 交界处) fails this.
* request_named: of the calls whose reference summary names a request (it has ``诉求：``), the share whose drafted
  summary names one too: it has ``诉求：`` followed by something other than the stage's `default_request` (a
  consultation written ``来电人咨询：…`` without 诉求 does not count). ``request_overlap`` is stricter: our request
  also shares a two-character piece with the reference's.
* ASR errors: of the recognition errors listed in `spoken_asr_errors` (heard→meant), how many the summary copies
  (the heard form is in it) and how many it corrected (the meant form is in it, outside the frame and the default
  request, the heard one not, and the meant one was not said elsewhere in the call).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import statistics
import time
from pathlib import Path
from types import ModuleType
from typing import Optional

from pipeline.ticket import TicketBuilder, default_registry, text_transcript
from summarize.faithful import canonical, unsupported_facts

__all__ = ["canonical", "half_of", "load_scorer", "percentile", "request_part", "summary_report", "unsupported_facts"]

def load_scorer(path: Path) -> ModuleType:
    """score_tickets.py as a module (its `rouge_l` and `FRAME`), from the annotated file's folder."""
    spec = importlib.util.spec_from_file_location("score_tickets", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no scorer at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def half_of(message_id: str) -> str:
    """"A" (developed on) or "B" (checked at the end): a fixed split by the sha256 of the id."""
    return "A" if int(hashlib.sha256(str(message_id).encode("utf-8")).hexdigest(), 16) % 2 == 0 else "B"


def request_part(summary: Optional[str]) -> Optional[str]:
    """What follows 诉求： (without the closing 。), None without one."""
    if not summary or "诉求：" not in summary:
        return None
    return summary.split("诉求：", 1)[1].rstrip("。")


def _pieces(text: str) -> set[str]:
    text = re.sub(r"[^\u4e00-\u9fffA-Za-z0-9]", "", text)
    return {text[k : k + 2] for k in range(len(text) - 1)}


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank), as every bench reports p95."""
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary_report(builder: TicketBuilder, annotated: Path, scorer_path: Optional[Path] = None) -> str:
    """Draft every spoken call of `annotated`, print the tables and return the key=value part of the last line."""
    scorer = load_scorer(scorer_path or annotated.parent / "score_tickets.py")
    rows = [json.loads(line) for line in annotated.read_text(encoding="utf-8").splitlines() if line.strip()]
    stage_name = builder.options.stages["summary"]
    registry = default_registry()
    config = dict(builder.options.stage_config.get(stage_name, {}))
    stage = registry.build(stage_name, config)  # the builder's summary stage, built again to be timed alone
    default_request = {**registry.get(stage_name).default_config, **config}.get("default_request")
    # the learned clause selector against the position rule it replaced, same calls, same fields
    position = None
    if stage_name == "summarize.structured.v1":
        from summarize.structured import build_structured_summary

        position = build_structured_summary(**{**registry.get(stage_name).default_config, **config}, selector="position")
    pos_scores: dict[str, list[float]] = {"A": [], "B": []}
    builder.build(text_transcript("我家楼下的路灯坏了好几天了，在张杨路500号，希望尽快修。"))  # warm-up
    per: dict[str, dict[str, list[float]]] = {h: {"ours": [], "lead": []} for h in ("A", "B")}
    faithful, named, overlap, wanted, times, defaults = 0, 0, 0, 0, [], 0
    named_by_half = {"A": [0, 0], "B": [0, 0]}  # named, wanted
    copied = corrected = n_errors = 0
    examples = []
    for row in rows:
        draft = builder.build(text_transcript(row["spoken"]))
        doc = builder.analyze(text_transcript(row["spoken"]))
        fields = {name: field for name, field in draft.fields() if name != "summary"}
        t0 = time.perf_counter()
        stage(doc, fields)
        times.append((time.perf_counter() - t0) * 1000)
        ours = draft.summary.value or ""
        half = half_of(row["id"])
        per[half]["ours"].append(scorer.rouge_l(ours, row["summary"]))
        per[half]["lead"].append(scorer.rouge_l(row["spoken"][:60], row["summary"]))
        if position is not None:
            pos_scores[half].append(scorer.rouge_l(position(doc, fields).value or "", row["summary"]))
        bad = unsupported_facts(ours, row["spoken"])
        faithful += not bad
        if bad and len(examples) < 3:
            examples.append((row["id"], ours, bad))
        asked = request_part(ours)
        defaults += asked == default_request
        reference = request_part(row["summary"])
        if reference is not None:
            wanted += 1
            named_by_half[half][1] += 1
            if asked is not None and asked != default_request:
                named += 1
                named_by_half[half][0] += 1
                overlap += bool(_pieces(asked) & _pieces(reference))
        for pair in row.get("spoken_asr_errors", []):
            heard, _, meant = pair.partition("→")
            if not heard or not meant:
                continue
            n_errors += 1
            copied += heard in ours
            body = re.sub(r"^来电人..：", "", ours).replace(f"诉求：{default_request}", "")  # not the frame's 反映
            corrected += meant in body and heard not in body and meant not in row["spoken"]
    n = len(rows)
    ours_all = per["A"]["ours"] + per["B"]["ours"]
    lead_all = per["A"]["lead"] + per["B"]["lead"]
    print(f"summary ({stage_name}) on {n} spoken calls of {annotated.name} (character ROUGE-L F1, score_tickets.rouge_l):")
    print("| part | calls | summary | lead-60 | ratio |")
    print("|---|---|---|---|---|")
    for label, ours_part, lead_part in (("half A (developed on)", per["A"]["ours"], per["A"]["lead"]),
                                        ("half B (checked)", per["B"]["ours"], per["B"]["lead"]),
                                        ("all", ours_all, lead_all)):  # fmt: skip
        mo, ml = statistics.fmean(ours_part), statistics.fmean(lead_part)
        print(f"| {label} | {len(ours_part)} | {mo:.3f} | {ml:.3f} | {mo / ml:.2f}x |")
    if position is not None:
        pa, pb = statistics.fmean(pos_scores["A"]), statistics.fmean(pos_scores["B"])
        pall = statistics.fmean(pos_scores["A"] + pos_scores["B"])
        print(f"| the same with selector: position (the rule the learned selector replaced) | {n} | A {pa:.3f}, B {pb:.3f}, "
              f"all {pall:.3f} | | {pall / statistics.fmean(lead_all):.2f}x |")
        try:
            from summarize.selector import MODEL_FILE, model_sha256
            from importlib import resources
            card = json.loads((resources.files("summarize") / "data" / MODEL_FILE.replace(".npz", ".json")).read_text(encoding="utf-8"))
            cv = card.get("cv", {})
            print(f"learned selector {model_sha256()[:12]}: trained on these calls, so the figures above are in-sample; its "
                  f"{cv.get('folds')}-fold cross-validated ROUGE-L (every call summarised by a model that never saw it): "
                  f"all {cv.get('rouge_l')}, half A {cv.get('rouge_l_a')}, half B {cv.get('rouge_l_b')} "
                  f"({cv.get('rouge_l', 0) / statistics.fmean(lead_all):.2f}x lead-60)")
        except (OSError, ValueError, KeyError):
            pass
    print(f"faithful (numbers, places, parties all in the transcript): {faithful}/{n} = {faithful / n:.3f}")
    for mid, text, bad in examples:
        print(f"  e.g. {mid}: {text} — not said: {', '.join(bad)}")
    print(f"request named where the reference names one: {named}/{wanted} = {named / max(wanted, 1):.3f} "
          f"(also sharing a 2-character piece with the reference's: {overlap}/{wanted}); "
          f"default request used in {defaults}/{n} calls; half A {named_by_half['A'][0]}/{named_by_half['A'][1]}, "
          f"half B {named_by_half['B'][0]}/{named_by_half['B'][1]}")  # fmt: skip
    print(f"recognition errors (spoken_asr_errors): {n_errors}, copied into the summary {copied}, corrected {corrected}")
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    print(f"summary stage alone: p50 {p50:.1f} ms, p95 {p95:.1f} ms per call")
    return (
        f"summary_rouge_l={statistics.fmean(ours_all):.3f} summary_lead60={statistics.fmean(lead_all):.3f} "
        f"summary_rouge_l_a={statistics.fmean(per['A']['ours']):.3f} summary_rouge_l_b={statistics.fmean(per['B']['ours']):.3f} "
        f"summary_faithful={faithful / n:.3f} request_named={named / max(wanted, 1):.3f} "
        f"summary_ms_p50={p50:.1f} summary_ms_p95={p95:.1f}"
    )
