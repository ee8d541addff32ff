"""The operator console: `hotline serve`'s web app (pages, REST API, the call websocket) over one engine.

`create_app(settings, pipeline, store)` builds the FastAPI app; `DecodeScheduler` runs every session's decodes on
its decode workers, fairly. Needs the 'serve' extra: pip install 'hotline[serve]'.
"""

from pipeline.base.deps import require

for _module in ("fastapi", "uvicorn", "python_multipart"):
    require(_module, "serve", "the operator console (hotline serve)")

from .app import Hub, bind_socket, create_app, serve  # noqa: E402
from .scheduler import AFTER_CALL, LIVE, DecodeScheduler, SchedulerClosed, SchedulerStats, SessionBackend  # noqa: E402
from .settings import ServerSettings, default_data_dir, default_decode_workers, default_max_live  # noqa: E402

__all__ = [
    "AFTER_CALL", "LIVE", "DecodeScheduler", "Hub", "SchedulerClosed", "SchedulerStats", "ServerSettings", "SessionBackend",
    "bind_socket", "create_app", "default_data_dir", "default_decode_workers", "default_max_live", "serve",
]  # fmt: skip
