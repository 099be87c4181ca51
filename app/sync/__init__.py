"""Local cache, outbox, API client and sync engine of the app.

Import the pieces from here: ``from app.sync import PortalApi, SyncEngine``.
"""

from app.sync.api import (
    ApiError,
    Offline,
    PortalApi,
    RateLimited,
    Rejected,
    ServerError,
    SignedIn,
    Unauthorized,
)
from app.sync.engine import (
    APP_INDEXES,
    COLLECTIONS,
    SyncEngine,
    SyncResult,
    SyncStatus,
    apply_page,
    open_store,
)
from app.sync.outbox import Outbox
from app.sync.store import Field, Store, StoreError
from app.sync.tokens import TokenStore

__all__ = [
    "APP_INDEXES",
    "COLLECTIONS",
    "ApiError",
    "Field",
    "Offline",
    "Outbox",
    "PortalApi",
    "RateLimited",
    "Rejected",
    "ServerError",
    "SignedIn",
    "Store",
    "StoreError",
    "SyncEngine",
    "SyncResult",
    "SyncStatus",
    "TokenStore",
    "Unauthorized",
    "apply_page",
    "open_store",
]
