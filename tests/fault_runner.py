"""A `hotline` process for the fault tests (tests/test_faults.py): `cli.main` with a slow fake Whisper, a scripted
streaming recogniser and a stub ticket builder (no model, no jieba), so that a test can signal or kill it in the
middle of a batch or a call. Not a test module.

    python tests/fault_runner.py MARKS SECONDS hotline-arguments…

Each file's decode (`transcribe`) or each live step (`replay`) n = 1, 2, … first creates MARKS/<n>, then takes the
n-th of the comma-separated SECONDS (the last one repeats): with "0,0,60" a test that sees MARKS/3 knows that two
files are done and the third is under way for a minute, so its signal lands there.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    marks, seconds, argv = Path(sys.argv[1]), [float(s) for s in sys.argv[2].split(",")], sys.argv[3:]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if started with SIGINT ignored
    import asr.engine
    import cli
    import pipeline.call
    import pipeline.live
    from asr.streaming import StreamUpdate
    from pipeline.base.types import Segment, TicketDraft, TicketField, Word

    count = [0]

    def mark() -> None:
        count[0] += 1
        (marks / str(count[0])).touch()
        time.sleep(seconds[min(count[0], len(seconds)) - 1])

    class SlowEngine:
        class info:
            model = "fake"

        def __init__(self, options=None, model_path=None):
            pass

        def transcribe(self, samples, speaker=None, offset_s=0.0):
            mark()
            yield Segment(0, offset_s, offset_s + 0.5, "测试", speaker)

    class SlowRecogniser:
        def __init__(self, engine=None, options=None):
            self.samples = 0

        @property
        def stream_end_s(self) -> float:
            return self.samples / 16000

        def insert_audio_chunk(self, samples) -> None:
            self.samples += len(samples)

        def process_iter(self) -> StreamUpdate:
            mark()
            return StreamUpdate((Word(self.stream_end_s - 0.05, self.stream_end_s, "好"),))

        def finish(self) -> StreamUpdate:
            return StreamUpdate((), (), True)

        def reset(self) -> None:
            self.samples = 0

    class StubBuilder:
        def __init__(self, options=None):
            pass

        def build(self, transcript) -> TicketDraft:
            unknown = TicketField.unknown()
            return TicketDraft(unknown, unknown, unknown, unknown, unknown, unknown)

    asr.engine.WhisperEngine = SlowEngine
    pipeline.call.TicketBuilder = StubBuilder
    pipeline.live.OnlineWhisper = SlowRecogniser
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
