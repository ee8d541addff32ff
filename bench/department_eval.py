"""Department evaluation derived from the government replies (issue "Tickets that are right on real words", step 5).

    python bench/department_eval.py [--replies ../shared/eval/tickets/unlabelled_with_replies.jsonl] [--limit N]

Each message of ``unlabelled_with_replies.jsonl`` has the reply of the unit that handled it. The unit is named where
replies name it: in the opening (``A3区洋湖街道高度重视…``, ``市住建局及时将您反映的问题交由…``) or in the signature at
the end. From those two places every unit name is read (`classify.train_department.reply_units`) and reduced to

* its **type** (`classify.train_department.UNIT_TYPES`: 住建, 城管, 公安, 教育, 人社, 交通, 市场监管, 生态环境, 自然资源, 卫健, 民政, 水务,
  农业农村, 发改, and 属地 for a street office, town or township, 区县政府 for a district or county government);
* its **level**: 市 (A市…, 市…), 区县 (…区, …县) or 街镇 (…街道, …镇, …乡).

A message whose reply names no unit there is left out (it says nothing about who handled it). The drafted ticket
(the message's title + text, as ``score_tickets.py`` feeds it) is scored on:

* ``department_acc``: its department's type is one of the reply's unit types (the functional department: the
  matter), over the messages whose reply names a functional unit (not only 属地 or 区县政府);
* ``local_named``: of the messages handled by a street office or town (属地), the share whose ticket's department
  names that street or town (the local unit it is also dispatched to).

Side by side: the default stage (department.linear.v1) and the plain baseline (department.table.v1, the category
alone). `classify.train_department.reply_units` reads the replies (the same rules label the model's training data).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classify.linear import read_card  # noqa: E402
from classify.train_department import reply_units, unit_type  # noqa: E402
from models.registry import resolve_classifier  # noqa: E402
from pipeline.base.config import DEFAULT_STAGES  # noqa: E402
from pipeline.ticket import TicketBuilder, default_registry, text_transcript  # noqa: E402

DEFAULT_REPLIES = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "tickets" / "unlabelled_with_replies.jsonl"
BASELINE = "department.table.v1"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replies", type=Path, default=DEFAULT_REPLIES)
    ap.add_argument("--limit", type=int, default=0, help="the first N messages only (0: all)")
    args = ap.parse_args(argv)
    print(f"Department benchmark — {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()} {os.cpu_count()} cores")
    print(department_report(args.replies, args.limit))
    return 0


def department_report(replies: Path, limit: int = 0) -> str:
    """Draft every message of `replies`, print the table and return the key=value line (`bench/tickets.py` too)."""
    rows = [json.loads(line) for line in replies.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: limit or None]
    print(f"department on {len(rows)} messages with replies from {replies.name}")
    stages = (DEFAULT_STAGES["department"], BASELINE)
    builder = TicketBuilder()
    baseline = default_registry().build(BASELINE, {})  # run on the default draft's doc and fields: it reads the category
    functional = local_n = named_any = 0
    right = dict.fromkeys(stages, 0)
    local_right = dict.fromkeys(stages, 0)
    gold_types: Counter = Counter()
    confusion: dict[str, Counter] = {name: Counter() for name in stages}
    for row in rows:
        types, local = reply_units(row.get("reply") or "")
        if not types and not local:
            continue
        named_any += 1
        gold_types.update(types)
        functional += bool(types)
        local_n += bool(local)
        transcript = text_transcript((row.get("title") or "") + "。" + row["text"])
        draft = builder.build(transcript)
        fields = dict(draft.fields())
        drafted = {stages[0]: fields["department"], BASELINE: baseline(builder.analyze(transcript), fields)}
        for name, field in drafted.items():
            dept = field.value if isinstance(field.value, str) else None
            if types:
                ours = unit_type(dept)
                right[name] += ours in types
                confusion[name][(ours, "/".join(sorted(types)))] += 1
            if local:
                local_right[name] += any(unit in (dept or "") for unit in local)
    print(f"replies naming a unit in the opening or signature: {named_any}/{len(rows)}; a functional unit: {functional}; "
          f"a street office or town (属地): {local_n}")  # fmt: skip
    print("functional unit types in the replies: " + ", ".join(f"{k} {v}" for k, v in gold_types.most_common()))
    print("| department stage | department_acc (type among the reply's) | local_named (属地 in the department) |")
    print("|---|---|---|")
    for name in stages:
        print(f"| {name} | {right[name] / max(functional, 1):.3f} ({right[name]}/{functional}) | "
              f"{local_right[name] / max(local_n, 1):.3f} ({local_right[name]}/{local_n}) |")  # fmt: skip
    card = read_card(resolve_classifier("department_linear_v1").with_suffix(".json"))
    cv = card.get("cv", {})
    print(f"department.linear.v1 was trained on these messages (those of the annotated set left out), so its row is "
          f"in-sample; its {cv.get('folds')}-fold cross-validated department_acc (out-of-fold predictions, same measure): "
          f"{cv.get('cv_department_acc')}")  # fmt: skip
    for name in stages:
        print(f"most frequent (drafted type, reply unit types) with {name}: "
              + "; ".join(f"{o} -> {g}: {n}" for (o, g), n in confusion[name].most_common(6)))
    d, base = DEFAULT_STAGES["department"], BASELINE
    return (f"department_acc={right[d] / max(functional, 1):.3f} department_acc_cv={cv.get('cv_department_acc')} "
            f"department_acc_base={right[base] / max(functional, 1):.3f} local_named={local_right[d] / max(local_n, 1):.3f} "
            f"local_named_base={local_right[base] / max(local_n, 1):.3f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
