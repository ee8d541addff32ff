"""The ticket store: accounts, login sessions, and tickets with their transcript, draft, edits and dispatch.

`open_store(url)` opens a SQLAlchemy database (SQLite by default, `default_db_url()`), migrating it to the newest
schema with the Alembic migrations shipped here. Needs the 'serve' extra: pip install 'hotline[serve]'.
"""

from pipeline.base.deps import require

for _module in ("sqlalchemy", "alembic", "argon2"):
    require(_module, "serve", "the ticket store")

from .records import (  # noqa: E402
    FIELDS, ROLES, SOURCES, STATUS_LABELS, STATUSES, Edit, NotAllowed, StoredTicket, StoreError, TicketNotFound,
    TicketQuery, TicketStore, User,
)  # fmt: skip
from .sql import SqlTicketStore, default_db_url, open_store  # noqa: E402

__all__ = [
    "FIELDS", "ROLES", "SOURCES", "STATUSES", "STATUS_LABELS", "Edit", "NotAllowed", "SqlTicketStore", "StoreError",
    "StoredTicket", "TicketNotFound", "TicketQuery", "TicketStore", "User", "default_db_url", "open_store",
]  # fmt: skip
