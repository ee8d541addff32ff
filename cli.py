"""hotline command line: parse arguments, build a config, wire sources to the pipeline and a sink. No logic."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

logger = logging.getLogger("hotline")

_stop_signals: list[int] = []  # SIGTERMs received by this run of `main`


def _on_sigterm(signum, frame) -> None:
    """SIGTERM stops hotline the way Ctrl-C does (KeyboardInterrupt), so one orderly path runs for both:
    the batch summary and --resume hint, the saved part of a JSONL, a live call's ticket. Only the first
    one interrupts; a later one, while that stop is under way, is only counted."""
    _stop_signals.append(signum)
    if len(_stop_signals) == 1:
        raise KeyboardInterrupt


def _interrupt_status() -> int:
    """The exit status of an interrupted command: 143 after SIGTERM, 130 after Ctrl-C (SIGINT)."""
    return 128 + signal.SIGTERM if signal.SIGTERM in _stop_signals else 128 + signal.SIGINT


class _Parser(argparse.ArgumentParser):
    """argparse, with a channel list that starts with '-' read as the value of --channels and errors on one line.

    argparse takes any word that starts with '-' (and is not a negative number) for an option, so in
    `--channels -,caller` the value looked missing; such a word after --channels is attached to it
    (`--channels=-,caller`) before parsing. An option never contains a comma, so nothing else is taken.
    """

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        fixed: list[str] = []
        i = 0
        while i < len(args):
            if args[i] == "--":
                fixed += args[i:]
                break
            if args[i] == "--channels" and i + 1 < len(args) and args[i + 1].startswith("-") and "," in args[i + 1]:
                fixed.append(f"--channels={args[i + 1]}")
                i += 2
                continue
            fixed.append(args[i])
            i += 1
        return super().parse_known_args(fixed, namespace)

    def error(self, message: str):
        """One line, like every other error of the command (argparse would print the usage first)."""
        self.exit(2, f"hotline: error: {message} (see: {self.prog} --help)\n")


def _add_call_args(p: argparse.ArgumentParser) -> None:
    """What `live` and `replay` share: where the call is saved and when it and its utterances end."""
    p.add_argument("--out", default="hotline_out", help="folder for the final JSON (default: ./hotline_out)")
    p.add_argument("--hangup-silence", type=float, default=0.0, help="end the call after this many seconds without speech (0: off; live then ends on Ctrl-C)")
    p.add_argument("--endpoint-silence", type=float, help="silence (s) that ends an utterance and commits it (default 0.6)")
    p.add_argument("--beam-size", dest="final_beam_size", type=int, help="beam for each utterance's last decode (default 1: greedy)")


def _add_asr_args(p: argparse.ArgumentParser, streaming: bool = False) -> None:
    """Whisper's options. A streamed call always uses VAD (it is how an utterance ends) and has its own beam
    option (`_add_call_args`), so `live` and `replay` (`streaming`) do not offer --no-vad and this --beam-size."""
    g = p.add_argument_group("speech recognition")
    g.add_argument("--model", help="model name (see `hotline models`), faster-whisper size, hub name or CTranslate2 directory (default: base)")
    g.add_argument("--model-dir", help="model cache directory (default: $HOTLINE_MODEL_DIR or the platform cache)")
    g.add_argument("--channels", help="'mix' (default) or one speaker label per channel, e.g. operator,caller ('-' skips a channel)")
    g.add_argument("--asr-device", dest="asr_device", choices=("auto", "cpu", "cuda"), help="where Whisper runs (default: auto)")
    g.add_argument("--compute-type", dest="compute_type")
    g.add_argument("--threads", dest="cpu_threads", type=int, help="CPU threads for Whisper (default: CTranslate2's choice)")
    if not streaming:
        g.add_argument("--beam-size", dest="beam_size", type=int)
        g.add_argument("--no-vad", action="store_true", help="decode all audio, without voice-activity detection")
    g.add_argument("--prompt", help="initial prompt for Whisper (default: none; see README 'Domain vocabulary')")
    g.add_argument("--hotwords", action="store_true", help="offer the domain vocabulary to Whisper as hotwords")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="hotline", description="Speech-to-ticket for Chinese city service hotlines.")
    ap.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    ap.add_argument("--config", help="JSON config file ({\"asr\": {...}, \"ticket\": {...}}); flags override it")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="transcribe recordings (files or folders) into transcripts and draft tickets")
    t.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    t.add_argument("--out", default="hotline_out", help="output folder (default: ./hotline_out)")
    t.add_argument("--format", default="json", choices=("json", "txt", "srt", "jsonl"))
    t.add_argument("--resume", action="store_true", help="skip files whose output already exists")
    _add_asr_args(t)

    k = sub.add_parser("ticket", help="draft a ticket from one recording, a typed text, or a JSONL file of messages")
    src = k.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="a recording")
    src.add_argument("--text", help="a typed transcript")
    src.add_argument("--jsonl", help='a file with one {"id": …, "text": …} per line')
    k.add_argument("--json", action="store_true", help="print the ticket as JSON (the ticket object of the output contract)")
    k.add_argument("--out", help="with --jsonl: write here instead of stdout")
    _add_asr_args(k)

    lv = sub.add_parser("live", help="transcribe a call live from the headset (and optionally the caller's line)")
    lv.add_argument("--backend", default="sounddevice", choices=("sounddevice", "pyaudio"))
    lv.add_argument("--device", help="input device index or name (default: the system's default input)")
    lv.add_argument("--caller-device", help="a second input for the caller's side, e.g. the softphone output's monitor")
    _add_call_args(lv)
    _add_asr_args(lv, streaming=True)

    dv = sub.add_parser("devices", help="list audio input devices")
    dv.add_argument("--backend", default="sounddevice", choices=("sounddevice", "pyaudio"))

    r = sub.add_parser("replay", help="replay a recording through the live path on a real-time clock")
    r.add_argument("file", help="a recording")
    r.add_argument("--speed", type=float, default=1.0, help="1 = real time, 2 = twice as fast, 0 = as fast as possible")
    _add_call_args(r)
    _add_asr_args(r, streaming=True)

    tc = sub.add_parser("train-classifier", help="train the category classifier on labelled tickets (JSONL: text, category)")
    tc.add_argument("data", help='JSONL file, one {"text": …, "category": …} per line')
    tc.add_argument("--out", default="hotline_classifier", help="output folder for the model (.npz) and its card (.json)")
    tc.add_argument("--name", default="category_linear_v1", help="model name (file stem)")
    tc.add_argument("--all-rows", action="store_true", help="train on every row (default: hold out 20%% and report on it)")

    m = sub.add_parser("models", help="list the known models and which are ready offline")
    m.add_argument("--model-dir", help="model cache directory")
    m.add_argument("--fetch", metavar="NAME", help="assemble or download NAME into the cache now")

    us = sub.add_parser("users", help="add or list the accounts of the operator console (hotline serve)")
    usub = us.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", help="add an account; the password is asked twice, or read as one line from stdin")
    ua.add_argument("name", help="login name")
    ua.add_argument("--role", required=True, choices=("operator", "supervisor"),
                    help="operators see their own calls; supervisors see all and export")  # fmt: skip
    ul = usub.add_parser("list", help="list the accounts")
    for p in (ua, ul):
        p.add_argument("--db", help="SQLAlchemy database URL (default: a SQLite file in the user's data folder)")
    sv = sub.add_parser("serve", help="run the operator console: a web page for live calls, tickets and the ticket list")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    sv.add_argument("--max-live", dest="max_live", type=int, help="live calls at once; more are recorded and drafted after hang-up (default: the CPU count)")
    sv.add_argument("--db", help="SQLAlchemy database URL (default: a SQLite file in the user's data folder)")
    sv.add_argument("--data-dir", dest="data_dir", help="folder for the call recordings (default: the user's data folder)")
    sv.add_argument("--allow-origin", dest="allow_origins", action="append", default=[], metavar="ORIGIN",
                    help="another origin the page may be served from, e.g. https://desk.example.org behind a proxy (repeatable)")
    sv.add_argument("--decode-workers", dest="workers", type=int,
                    help="Whisper decodes run at once, each on its share of the cores (default: one per live call, up to the CPU count)")
    sv.add_argument("--endpoint-silence", type=float, help="silence (s) that ends an utterance and commits it (default 0.6)")
    sv.add_argument("--beam-size", dest="final_beam_size", type=int, help="beam for each utterance's last decode (default 1: greedy)")
    _add_asr_args(sv, streaming=True)
    return ap


def _config(args: argparse.Namespace):
    from pipeline.base.config import PipelineConfig
    from pipeline.base.errors import ConfigError
    from pipeline.base.text import read_json_file

    if args.config:
        path = Path(args.config)
        try:
            data = read_json_file(path)
        except (OSError, ValueError) as e:
            raise ConfigError("--config", str(path), f"a readable JSON file ({e})") from None
        base = PipelineConfig.from_dict(data, source=str(path))
    else:
        base = PipelineConfig()
    return PipelineConfig.from_namespace(args, base)


def _checked_pipeline(args: argparse.Namespace, audio: bool, out_dir: Optional[str] = None):
    """The call object of this run, once every option is known to be right: the config file and the flags, the
    ticket stages' options, a streamed call's numbers, the output folder, and (`audio`) the Whisper model and the
    device. All of it is found here, before any work; a problem is a HotlineError, which `main` prints on one line
    (exit 2). (`ticket --jsonl --out FILE` checks its file itself, before drafting: `_ticket_jsonl`.)"""
    from pipeline.base.config import check_number
    from pipeline.call import CallPipeline

    for flag in ("speed", "hangup_silence"):
        if getattr(args, flag, None) is not None:
            check_number("--" + flag.replace("_", "-"), getattr(args, flag), 0.0)
    pipeline = CallPipeline(_config(args))
    pipeline.check(audio=audio, out_dir=out_dir, out_field="--out")
    return pipeline


def _console():
    from rich.console import Console

    return Console(stderr=True)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from asr.audio import find_audio_files
    from pipeline.batch import BatchTotals, run_batch

    console = _console()
    files = list(find_audio_files(args.paths))
    empty_dirs = [p for p in args.paths if Path(p).is_dir() and not any(Path(p) in f.parents for f, _ in files)]
    for d in empty_dirs:
        console.print(f"[red]error[/]: {escape(repr(d))}: folder contains no audio files ({', '.join(sorted(_exts()))})", soft_wrap=True)
    if not any(f.exists() for f, _ in files):  # nothing found: the files named are not there either
        for f, _ in files:
            console.print(f"[red]error[/]: {escape(repr(str(f)))}: no such file or folder", highlight=False, soft_wrap=True)
        return 2
    pipeline = _checked_pipeline(args, audio=True, out_dir=args.out)
    out_dir = Path(args.out)
    totals = BatchTotals()
    failures: list[tuple[str, str]] = []
    interrupted: Optional[int] = None  # the exit status, when Ctrl-C or SIGTERM stopped the batch
    t0 = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        total = progress.add_task("all files", total=len(files))
        current = progress.add_task("", total=1.0, visible=False)

        def on_start(path: Path) -> None:
            progress.update(current, description=f"  {escape(path.name[:40])}", completed=0, total=1.0, visible=True)

        def on_progress(done: float, whole: float) -> None:
            progress.update(current, completed=done, total=max(whole, 1e-6))

        try:
            for outcome in run_batch(pipeline, files, out_dir, args.format, args.resume, on_start, on_progress):
                progress.advance(total)
                totals.add(outcome)
                if outcome.status == "failed":
                    failures.append((str(outcome.path), outcome.error or "unknown error"))
                    progress.console.print(
                        f"[red]error[/]: {escape(repr(str(outcome.path)))}: {escape(outcome.error or '')}", highlight=False, soft_wrap=True
                    )
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the current file is abandoned without output (run_batch)
            interrupted = _interrupt_status()
        progress.update(current, visible=False)
    totals.wall_s = time.perf_counter() - t0
    table = Table(title="hotline transcribe")
    for col in ("files", "ok", "skipped", "failed", "audio min", "wall s", "RTF"):
        table.add_column(col, justify="right")
    rtf = f"{totals.rtf:.3f}" if totals.rtf is not None else "-"
    table.add_row(str(totals.files), str(totals.ok), str(totals.skipped), str(totals.failed), f"{totals.audio_s / 60:.2f}",
                  f"{totals.wall_s:.1f}", rtf)  # fmt: skip
    console.print(table)
    for path, err in failures:
        console.print(f"  failed: {path}: {err}", highlight=False, soft_wrap=True, markup=False)
    console.print(f"outputs in {out_dir}/", highlight=False, markup=False)
    if interrupted is not None:
        console.print(f"interrupted; {len(files) - totals.files} files left: rerun with --resume", highlight=False, markup=False)
        return interrupted
    return 1 if totals.failed or empty_dirs else 0


def _exts():
    from asr.audio import AUDIO_EXTENSIONS

    return AUDIO_EXTENSIONS


def print_ticket(result, console) -> None:
    from rich.panel import Panel
    from rich.text import Text

    from pipeline.view import ticket_table, transcript_text

    title = Text(f"工单草稿 · {result.audio}" if result.audio else "工单草稿")
    lines = transcript_text(result.transcript.segments)
    lines.rstrip()
    console.print(Panel(lines if lines else Text("(no speech)", style="dim"), title="transcript", title_align="left"))
    console.print(Panel(ticket_table(result.ticket), title=title, title_align="left"))


def cmd_ticket(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.base.errors import ConfigError
    from pipeline.output import ticket_to_dict

    if args.out and not args.jsonl:
        raise ConfigError("--out", args.out, "only with --jsonl (the ticket of a recording or --text is printed)")
    pipeline = _checked_pipeline(args, audio=args.file is not None)
    if args.jsonl:
        return _ticket_jsonl(pipeline, Path(args.jsonl), args.out)
    result = pipeline.process(Path(args.file)) if args.file else pipeline.process_text(args.text, source=None)
    if args.json:
        print(json.dumps(ticket_to_dict(result.ticket), ensure_ascii=False, indent=2))
    else:
        print_ticket(result, Console())
    return 0


def _ticket_jsonl(pipeline, path: Path, out: Optional[str]) -> int:
    """Draft each message of `path`, writing each ticket line as soon as it is drafted: to stdout, or appended
    (and fsynced) to `<out>.partial`, which becomes `out` only once the whole input is drafted. `out` is checked
    before anything is drafted. Interrupted, it says how many lines were saved where; `out` is not written."""
    from pipeline.batch import draft_messages
    from pipeline.output import append_line, commit_partial, start_partial, ticket_to_dict

    partial = None
    if out:
        try:
            partial = start_partial(out)
        except OSError as e:
            print(f"hotline: error: cannot write {out!r}: {e}", file=sys.stderr)
            return 2
    where = repr(str(partial)) if partial else "stdout"
    written = bad = 0
    lineno = 0
    try:
        for m in draft_messages(pipeline, path):
            lineno = m.lineno
            if m.error is not None:
                bad += 1
                logger.error("%s line %d: %s", path, m.lineno, m.error)
                continue
            row = json.dumps({"id": m.id, "ticket": ticket_to_dict(m.result.ticket)}, ensure_ascii=False) + "\n"
            try:
                if partial:
                    append_line(partial, row)
                else:
                    sys.stdout.write(row)
                    sys.stdout.flush()
            except OSError as e:
                print(f"hotline: error: cannot write {where}: {e}; {written} tickets were saved there, the output is incomplete",
                      file=sys.stderr)  # fmt: skip
                return 1
            written += 1
    except (OSError, UnicodeDecodeError) as e:
        if partial and not written:
            partial.unlink(missing_ok=True)
        raise SystemExit(f"hotline: error: cannot read {str(path)!r}: {e}")
    except KeyboardInterrupt:
        print(f"hotline: interrupted after line {lineno} of {str(path)!r}: {written} tickets saved in {where}; "
              f"the output is incomplete" + (f" ({out!r} not written)" if out else ""), file=sys.stderr)  # fmt: skip
        return _interrupt_status()
    if partial:
        try:
            commit_partial(partial, out)
        except OSError as e:
            print(f"hotline: error: cannot rename {where} to {out!r}: {e}; all {written} tickets are in the former", file=sys.stderr)
            return 1
    return 1 if bad else 0


def _save_call(text: str, target: Path) -> Optional[Path]:
    """Save a finished call's JSON to `target`. If that fails, say so on one line and save it in the temp folder
    instead: the operator has the ticket on screen, but the record must not be lost, and a file whose path is
    printed is easier to move into place later than JSON printed into the call's scrollback. If even that
    fails, the JSON goes to stdout. Returns where it was saved (None: stdout)."""
    import tempfile

    from pipeline.output import write_atomic

    try:
        write_atomic(target, text)
        return target
    except OSError as e:
        problem = f"hotline: error: cannot save the call to {str(target)!r}: {e}"
    fallback = Path(tempfile.gettempdir()) / f"hotline-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{target.name}"
    try:
        write_atomic(fallback, text)
    except OSError as e:
        print(f"{problem}; nor in {str(fallback)!r} ({e}): the call's JSON follows on stdout", file=sys.stderr)
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    print(f"{problem}; saved it to {str(fallback)!r} instead", file=sys.stderr)
    return fallback


def _run_live_call(args, session, batches, title: str, end_s: Optional[float] = None) -> int:
    """Drive a session with the live view, print the ticket, save the final JSON, print the latency.
    `end_s`: the recording's length, for a replay (see pipeline.live.run_session). Ctrl-C and SIGTERM end
    the call like a hang-up (the ticket is printed and saved); the exit status is then 0 and 143."""
    from rich.console import Console

    from pipeline.live import run_session
    from pipeline.output import render
    from pipeline.view import LiveView

    with LiveView(session, title=title) as view:
        outcome = run_session(session, batches, view.update, args.hangup_silence, end_s=end_s)
    replayed = getattr(args, "file", None)
    name = Path(replayed).name if replayed else time.strftime("call-%Y%m%d-%H%M%S")
    target = Path(args.out) / f"{name}.json"
    text = render(outcome.result, "json", os.path.realpath(replayed) if replayed else None)
    try:
        print_ticket(outcome.result, Console())  # first: whatever happens to the file, the operator has it
    finally:
        saved = _save_call(text, target)
    lat = outcome.latency
    print(f"call ended: {outcome.reason}; saved {saved if saved else 'to stdout only'}")
    if lat.words:
        print(f"lag p50 {lat.lag_p50_s:.2f} s, p95 {lat.lag_p95_s:.2f} s over {lat.words} words; "
              f"ticket ready {outcome.ticket_ready_s:.2f} s after end of audio")  # fmt: skip
    if not outcome.ok:
        print(f"hotline: error: {outcome.reason}", file=sys.stderr)
    if not outcome.ok or saved != target:
        return 1
    return 143 if signal.SIGTERM in _stop_signals else 0


def cmd_devices(args: argparse.Namespace) -> int:
    from asr.capture import list_devices

    devices = list_devices(args.backend)
    for dev in devices:
        print(dev.describe())
    if not devices:
        print(f"hotline: no audio input devices found through {args.backend}", file=sys.stderr)
        return 1
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from asr.capture import open_capture
    from pipeline.live import capture_batches

    pipeline = _checked_pipeline(args, audio=True, out_dir=args.out)
    capture = open_capture(args.device, backend=args.backend, caller_device=args.caller_device)
    session = pipeline.session([i.speaker for i in capture.inputs])
    names = " + ".join(i.device.name for i in capture.inputs)
    with capture:
        return _run_live_call(args, session, capture_batches(capture), f"live · {names} · Ctrl-C to hang up")


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline.live import Replay

    pipeline = _checked_pipeline(args, audio=True, out_dir=args.out)
    replay = Replay.load(args.file, pipeline.config.asr.channels)  # AudioDecodeError → one-line error, exit 2
    session = pipeline.session(replay.speakers, audio=str(args.file))
    title = f"replay {args.file} ×{args.speed:g}"
    return _run_live_call(args, session, replay.batches(speed=args.speed), title, end_s=replay.end_s)


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from classify.train import train_from_jsonl

    try:
        report = train_from_jsonl(Path(args.data), Path(args.out), name=args.name, hold_out=not args.all_rows)
    except (OSError, ValueError) as e:
        print(f"hotline: error: {e}", file=sys.stderr)
        return 2
    print(f"model: {report.model_path} ({report.size_bytes / 1e6:.1f} MB, {report.terms} terms, classes: {', '.join(report.classes)})")
    print(f"card:  {report.card_path}")
    print(f"cross-validation accuracy {report.cv_accuracy:.4f}, macro-F1 {report.cv_macro_f1:.4f}")
    if report.held_out_rows:
        print(f"held-out ({report.held_out_rows} rows) accuracy {report.held_out_accuracy:.4f}, macro-F1 {report.held_out_macro_f1:.4f}")
    print(f'use it with: --config FILE containing {{"ticket": {{"stage_config": {{"category.linear.v1": {{"model": "{report.model_path}"}}}}}}}}')
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from models import KNOWN_LLMS, list_models, resolve_llm, resolve_whisper

    root = Path(args.model_dir) if args.model_dir else None
    if args.fetch:
        print(resolve_llm(args.fetch, root) if args.fetch in KNOWN_LLMS else resolve_whisper(args.fetch, root))
        return 0
    table = Table(title="Models (Whisper, and language models for summarize.llamacpp.v1)")
    for col in ("name", "ready", "description", "detail"):
        table.add_column(col)
    for m in list_models(root):
        table.add_row(m.name, "yes" if m.ready else "no", m.description, m.detail)
    Console().print(table)
    return 0


def _new_password(name: str) -> str:
    """The new account's password: typed twice at a terminal (not echoed), else the first line of stdin."""
    import getpass

    from pipeline.store import StoreError

    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("the same password again: ") != password:
            raise StoreError("the two passwords differ; nothing was added")
        return password
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise StoreError("no password: type it at the prompt, or give it as one line on stdin")
    return line.rstrip("\r\n")


def cmd_users(args: argparse.Namespace) -> int:
    from pipeline.store import StoreError, default_db_url, open_store

    store = open_store(args.db or default_db_url())
    try:
        if args.users_command == "list":
            for user in store.list_users():
                print(f"{user.name}\t{user.role}\t{user.created_at:%Y-%m-%d %H:%M} UTC")
            return 0
        if store.get_user(args.name) is not None:  # before asking for a password
            raise StoreError(f"user name {args.name!r} is taken")
        user = store.add_user(args.name, _new_password(args.name), args.role)
        print(f"added {user.role} {user.name!r}")
        return 0
    finally:
        store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    """Check the model, the recordings folder, the database and the port, load Whisper, then serve until Ctrl-C or
    SIGTERM (open calls finish their tickets first); a stop by either is a clean exit (0)."""
    import re

    from pipeline.base.config import check_number
    from pipeline.server import ServerSettings, bind_socket, create_app, default_data_dir, default_decode_workers, default_max_live, serve
    from pipeline.store import default_db_url, open_store

    check_number("--port", args.port, 0, 65535, integer=True)
    if args.max_live is not None:
        check_number("--max-live", args.max_live, 0, integer=True)
    if args.workers is not None:
        check_number("--decode-workers", args.workers, 1, 64, integer=True)
    max_live = default_max_live() if args.max_live is None else args.max_live
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    if args.workers is None and _config(args).asr.workers == 0:  # automatic: one per live call, up to the cores
        args.workers = default_decode_workers(max_live)
    pipeline = _checked_pipeline(args, audio=True)
    pipeline.check(audio=False, out_dir=data_dir, out_field="--data-dir")
    settings = ServerSettings(host=args.host, port=args.port, data_dir=data_dir, allowed_origins=tuple(args.allow_origins),
                              max_live=max_live)  # fmt: skip
    url = args.db or default_db_url()
    store = open_store(url)
    try:
        sock = bind_socket(args.host, args.port)
        app = create_app(settings, pipeline, store)  # loads Whisper
        host, port = sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        shown = re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)
        print(f"hotline: console on http://{host}:{port}/ · at most {settings.max_live} live calls · "
              f"{pipeline.config.asr.workers} decode worker(s) · tickets in {shown} · "
              f"recordings in {settings.recordings_dir} · Ctrl-C stops", file=sys.stderr, flush=True)  # fmt: skip
        try:
            serve(app, sock, access_log=args.verbose > 0)
        except KeyboardInterrupt:  # uvicorn stopped gracefully, then passed the signal on
            pass
        print("hotline: console stopped", file=sys.stderr)
        return 0
    finally:
        store.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from pipeline.base.errors import HotlineError

    _stop_signals.clear()
    in_main_thread = threading.current_thread() is threading.main_thread()  # tests run `main` in threads too
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        commands = {"transcribe": cmd_transcribe, "ticket": cmd_ticket, "train-classifier": cmd_train_classifier, "models": cmd_models,
                    "replay": cmd_replay, "live": cmd_live, "devices": cmd_devices, "users": cmd_users,
                    "serve": cmd_serve}
        return commands[args.command](args)
    except (HotlineError, ImportError) as e:  # ImportError: an optional dependency, with the pip line that installs it
        print(f"hotline: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hotline: interrupted", file=sys.stderr)
        return _interrupt_status()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
