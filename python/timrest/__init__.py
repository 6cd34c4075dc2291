"""timrest: a client for the Tencent Cloud IM (TIM) server REST API.

Its first job is ``group_open_http_svc/delete_group_msg_by_sender``: delete what one user sent among
a group's latest 1000 messages::

    import timrest

    client = timrest.Client(1400000000, secret_key="...")    # or timrest.Client.from_env()
    try:
        client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "spammer")
    except timrest.GroupNotFoundError:
        ...

One :class:`Client` is thread-safe and meant to be shared: it releases the GIL while it waits on the
network, and its rate limiter and connection pool serve every thread. Create clients after
``fork()``, not before. :class:`AsyncClient` is the same client for asyncio. Errors are the classes of :mod:`timrest.exceptions`, re-exported here.
Log lines (one per attempt, at DEBUG) go to the ``logging`` logger ``"timrest"`` and never contain
a secret. :mod:`timrest.testing` has a local emulator of the TIM server for tests and demos.
"""

from __future__ import annotations

from ._native import (
    PERMANENT,
    BatchReport,
    CallInfo,
    Client,
    Event,
    HistoryMessage,
    HistoryPage,
    ItemResult,
    JobControl,
    JobReport,
    NoSpeaking,
    PurgePlan,
    RecallResult,
    StepResult,
    __version__,
    gen_usersig,
    inspect_usersig,
    verify_usersig,
)
from typing import TYPE_CHECKING, Any

from ._progress import Progress
from . import exceptions as _exceptions
from .exceptions import *  # noqa: F403 (the whole hierarchy: exceptions.__all__)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "CallInfo",
    "Event",
    "BatchReport",
    "ItemResult",
    "PurgePlan",
    "PERMANENT",
    "NoSpeaking",
    "HistoryMessage",
    "HistoryPage",
    "RecallResult",
    "StepResult",
    "JobReport",
    "JobControl",
    "Progress",
    "gen_usersig",
    "inspect_usersig",
    "verify_usersig",
]
__all__ += _exceptions.__all__

if TYPE_CHECKING:
    from ._async import AsyncClient
else:

    def __getattr__(name: str) -> Any:
        # AsyncClient is imported on first use: asyncio alone would double `import timrest`'s time.
        if name == "AsyncClient":
            from ._async import AsyncClient

            globals()["AsyncClient"] = AsyncClient
            return AsyncClient
        raise AttributeError(f"module 'timrest' has no attribute {name!r}")
