"""Terminal view of a live call (a sink): committed text, the unstable tail, speakers, the draft ticket."""

from __future__ import annotations

import time
from typing import Optional

from .live import CallSession, SessionUpdate
from .base.types import TicketDraft

__all__ = ["FIELD_LABELS", "LiveView", "ticket_table", "transcript_text"]

FIELD_LABELS = {
    "request_type": "诉求类型",
    "category": "类别",
    "department": "承办部门",
    "location": "地点",
    "urgency": "紧急程度",
    "caller_phone": "来电号码",
    "caller_id": "证件号码",
    "summary": "摘要",
}


def ticket_table(ticket: Optional[TicketDraft]):
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(style="dim", justify="right", no_wrap=True)
    if ticket is None:
        table.add_row("", Text("(waiting for speech)", style="dim"), "")
        return table
    for name, f in ticket.fields():
        value = Text(f.value) if f.value is not None else Text("未知 (unknown)", style="dim")
        extra = getattr(f, "priority", None)
        if extra:
            value.append(f"  {extra}, {getattr(f, 'time_limit_hours', None):g} h", style="yellow")
        table.add_row(FIELD_LABELS.get(name, name), value, f"{f.confidence:.2f}")
    return table


def transcript_text(segments):
    """Segments as rich Text, one line each, speaker labels in colour (empty Text when there are none)."""
    from rich.text import Text

    text = Text()
    for seg in segments:
        if seg.speaker:
            text.append(f"[{seg.speaker}] ", style="cyan")
        text.append(seg.text + "\n")
    return text


class LiveView:
    """Redraws at most `fps` times a second; committed words in normal text, the unstable tail dim."""

    def __init__(self, session: CallSession, title: str = "hotline", console=None, fps: float = 4.0):
        from rich.console import Console

        self.session = session
        self.title = title
        self.console = console or Console(stderr=True)
        self._interval = 1.0 / fps
        self._last = 0.0
        self._live = None
        self._t0 = time.monotonic()

    def __enter__(self) -> "LiveView":
        from rich.live import Live

        self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.__exit__(*exc)

    def update(self, update: Optional[SessionUpdate] = None) -> None:
        now = time.monotonic()
        if self._live is None or now - self._last < self._interval:
            return
        self._last = now
        self._live.update(self._render(), refresh=True)

    def _render(self):
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        s = self.session
        text = transcript_text(s.transcript().segments[-12:])
        for speaker, tail in s.tails():
            if tail:
                if speaker:
                    text.append(f"[{speaker}] ", style="cyan dim")
                text.append("".join(w.text for w in tail) + "\n", style="dim italic")
        lat = s.latency()
        status = f"audio {s.stream_end_s:6.1f} s · wall {time.monotonic() - self._t0:6.1f} s · {lat.words} words"
        if lat.words:
            status += f" · lag p50 {lat.lag_p50_s:.1f} s p95 {lat.lag_p95_s:.1f} s"
        return Group(
            Panel(text if text else Text("(listening)", style="dim"), title=self.title, subtitle=status, title_align="left"),
            Panel(ticket_table(s.ticket), title="工单草稿 (draft)", title_align="left"),
        )
