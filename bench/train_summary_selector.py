"""Train the summary's clause selector (`summarize.train`) with the calls drafted by the default ticket stages.

    python bench/train_summary_selector.py ../shared/eval/tickets/annotated_dev.jsonl \
        --titles ../shared/eval/tickets/unlabelled.jsonl --folds 5

Writes ``summarize/data/selector_v1.npz`` and its card ``selector_v1.json``; prints the cross-validated ROUGE-L per
fold, per half and on all calls. Needs scikit-learn (``pip install 'hotline[train]'``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.base.config import DEFAULT_STAGES, TicketOptions  # noqa: E402
from pipeline.ticket import TicketBuilder, text_transcript  # noqa: E402
from summarize.train import main  # noqa: E402

# the fields the summary stage sees in production; the summary itself is not drafted here
_BUILDER = TicketBuilder(TicketOptions(stages={**DEFAULT_STAGES, "summary": "summarize.extractive.v1"}))


def draft(spoken: str):
    transcript = text_transcript(spoken)
    fields = {name: field for name, field in _BUILDER.build(transcript).fields() if name != "summary"}
    return _BUILDER.analyze(transcript), fields


if __name__ == "__main__":
    raise SystemExit(main(draft=draft))
