"""Build the homophone lexicon of ``summarize.homophones`` from written messages.

    python bench/build_homophones.py ../shared/eval/tickets/unlabelled.jsonl --exclude ../shared/eval/tickets/annotated_dev.jsonl

Writes ``summarize/data/homophones_v1.npz`` and a card beside it (data sha256, word count, the file's sha256).
Messages whose id is in ``--exclude`` are left out (the dev set's messages, whose spoken versions it is measured on).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from summarize.homophones import LEXICON_FILE, MIN_COUNT, SEEN_BITS, build_homophones  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("messages", type=Path, help="JSON lines with title and text")
    ap.add_argument("--exclude", type=Path, help="JSON lines whose ids are left out")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "summarize" / "data" / LEXICON_FILE)
    args = ap.parse_args(argv)
    excluded = set()
    if args.exclude:
        excluded = {str(json.loads(line)["id"]) for line in args.exclude.read_text(encoding="utf-8").splitlines() if line.strip()}
    rows = [json.loads(line) for line in args.messages.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if str(r.get("id")) not in excluded]
    lexicon = build_homophones((r.get("title") or "") + "。" + (r.get("text") or "") for r in rows)
    lexicon.save(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    card = {"data_sha256": hashlib.sha256(args.messages.read_bytes()).hexdigest(), "messages": len(rows),
            "excluded_ids": len(excluded), "words": len(lexicon.words), "min_count": MIN_COUNT, "seen_bits": SEEN_BITS,
            "sha256": digest}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(lexicon.words)} words, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
