"""A faithful local emulator of the TIM REST server, for tests and demos.

::

    from timrest.testing import Emulator

    with Emulator() as emu:                        # demo sdkappid, demo key, admin "administrator"
        gid = emu.create_group("Public", members=("leckie",))
        emu.send_group_msg(gid, "leckie", "spam")
        emu.client().delete_group_msg_by_sender(gid, "leckie")
        assert emu.messages(gid) == []

The emulator serves real HTTP on a free loopback port, in this process, on its own threads (it does
not need the GIL while it answers). It checks UserSigs (from any official library), the App admin,
group types and rules, keeps per-group message history, enforces a rate limit, and can be scripted
to fail: :meth:`Emulator.inject`. Its request log (:meth:`Emulator.requests`) holds no secret.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Iterable, NamedTuple, Optional, Union

from . import _native
from ._async import AsyncClient
from ._native import DEMO_SDKAPPID, DEMO_SECRET_KEY, DEMO_SPAMMER, Client

__all__ = ["Emulator", "SeededGroup", "DEMO_SDKAPPID", "DEMO_SECRET_KEY", "DEMO_SPAMMER"]


class SeededGroup(NamedTuple):
    """One group :meth:`Emulator.seed_demo` made."""

    group_id: str
    group_type: str
    name: str
    messages: int
    """How many messages it holds."""
    spam: int
    """How many of them :data:`DEMO_SPAMMER` sent."""


class Emulator:
    """The TIM server emulator, started on construction, stopped by :meth:`close` or ``with``.

    ``rate_limit`` is requests per second *per command*, as Tencent counts its quota, counted in a
    sliding 1-second window (None: no limit; over it, 60007); ``app_rate_limit`` is an optional
    quota for the whole app, every command together (over it, 60011); ``latency`` is seconds added
    to every answer (to stand in for a far server); ``fault_rate`` is the share of requests (0 to 1)
    that answer a random fault instead (chaos; see :meth:`set_fault_rate`).
    """

    def __init__(
        self,
        sdkappid: int = DEMO_SDKAPPID,
        secret_key: str = DEMO_SECRET_KEY,
        admins: Iterable[str] = ("administrator",),
        rate_limit: Optional[float] = 100.0,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_rate_limit: Optional[float] = None,
        fault_rate: float = 0.0,
    ) -> None:
        self.sdkappid = sdkappid
        self.admins = tuple(admins)
        self._secret_key = secret_key
        self._native = _native.Emulator(
            sdkappid=sdkappid,
            secret_key=secret_key,
            admins=list(self.admins),
            rate_limit=rate_limit,
            latency=latency,
            host=host,
            port=port,
            app_rate_limit=app_rate_limit,
            fault_rate=fault_rate,
        )

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops serving (idempotent). Requests after this fail to connect."""
        self._native.shutdown()

    @property
    def running(self) -> bool:
        """Whether it still serves."""
        return self._native.running

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r}, sdkappid={self.sdkappid!r}, admins={self.admins!r})"

    # -- where and how to reach it ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: give it to a client as ``base_url``."""
        return self._native.base_url

    @property
    def port(self) -> int:
        """The loopback port the emulator listens on."""
        return self._native.port

    def client(self, **overrides: Any) -> Client:
        """A :class:`timrest.Client` for this emulator: this sdkappid and key, the first admin.

        ``overrides`` are any :class:`timrest.Client` keywords (``identifier``, ``secret_key``,
        ``timeout``, ``max_retries``, ``rate_limit`` …). Give ``usersig`` to use a ready UserSig
        instead of the key.
        """
        settings: dict[str, Any] = {
            "secret_key": self._secret_key,
            "identifier": self.admins[0] if self.admins else "administrator",
            "base_url": self.base_url,
        }
        if "usersig" in overrides and "secret_key" not in overrides:
            del settings["secret_key"]
        settings.update(overrides)
        sdkappid = settings.pop("sdkappid", self.sdkappid)
        return Client(sdkappid, **settings)

    def async_client(self, **overrides: Any) -> AsyncClient:
        """A :class:`timrest.AsyncClient` for this emulator, with the same keywords as :meth:`client`
        (and ``max_workers``)."""
        max_workers = overrides.pop("max_workers", 64)
        return AsyncClient._wrap(self.client(**overrides), max_workers)

    # -- state: seeding and inspecting --------------------------------------------------------

    def create_group(
        self,
        type: str,
        group_id: Optional[str] = None,
        name: str = "g",
        owner: Optional[str] = None,
        members: Iterable[str] = (),
        support_topic: bool = False,
    ) -> str:
        """Creates a group (``Private``/``Work``, ``Public``, ``ChatRoom``/``Meeting``,
        ``AVChatRoom``, ``BChatRoom``, ``Community``); returns its ID (server-made unless given)."""
        return self._native.create_group(type, group_id, name, owner, list(members), support_topic)

    def create_topic(self, group_id: str, name: str, topic_id: Optional[str] = None) -> str:
        """Creates a topic in a Community group made with ``support_topic=True``; returns its ID
        (server-made unless ``topic_id`` is given: the group ID, ``@TOPIC#_`` and a name)."""
        return self._native.create_topic(group_id, name, topic_id)

    def seed_demo(self, named_ids: bool = False) -> list[SeededGroup]:
        """Creates the demo groups that ``timrest emulator --seed-demo`` serves: ``release-team``
        (Public), ``ops-oncall`` (Work) and ``friday-meetup`` (ChatRoom), each with messages from
        :data:`DEMO_SPAMMER` (``spammer42``) among others, every sender a member. With
        ``named_ids`` each group's ID is its name; otherwise the emulator makes ``@TGS#…`` IDs."""
        return [SeededGroup(*g) for g in self._native.seed_demo(named_ids)]

    def destroy_group(self, group_id: str) -> None:
        """Dissolves a group: later calls on it answer 10010."""
        self._native.destroy_group(group_id)

    def send_group_msg(self, group_id: str, sender: str, text: str, topic_id: Optional[str] = None) -> int:
        """Posts a text message as ``sender``; returns its ``MsgSeq``."""
        return self._native.send_group_msg(group_id, sender, text, topic_id)

    def kick_count(self, account: str) -> int:
        """How many times ``kick`` ended ``account``'s login state (the emulator only counts them)."""
        return self._native.kick_count(account)

    def members(self, group_id: str) -> list[str]:
        """The group's owner (first, when it has one) and members, as ``delete_group_member`` left them."""
        return self._native.members(group_id)

    def messages(
        self, group_id: str, topic_id: Optional[str] = None, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """The group's (or topic's) history, oldest first, as dicts shaped like ``RspMsgList`` items.
        Deleted messages are left out unless ``include_deleted`` (then ``IsPlaceMsg`` is 2)."""
        return self._native.messages(group_id, topic_id, include_deleted)

    # -- faults, latency, limits ----------------------------------------------------------------

    def inject(
        self,
        command: str,
        times: int = 1,
        error_code: Optional[int] = None,
        error_info: Optional[str] = None,
        http_status: Optional[int] = None,
        delay: Optional[float] = None,
        drop: bool = False,
        body: Union[bytes, str, None] = None,
        truncate: bool = False,
        reset: bool = False,
        slow_body: Optional[float] = None,
        echo_secrets: bool = False,
        endless_headers: bool = False,
    ) -> None:
        """Scripts a fault for the next ``times`` requests of ``command`` (``"*"``: any command).

        ``error_code``: answer that TIM code (with ``error_info``); ``http_status``: answer that
        status with an HTML body (a gateway's 502); ``delay``: wait that many seconds first;
        ``drop``: close the connection without answering; ``body``: answer these bytes with
        status 200; ``truncate``: cut the answer short (the connection closes before the promised
        ``Content-Length``); ``reset``: send the head and half a body, then reset the connection
        (TCP RST); ``slow_body``: send the answer's head at once, then its body one byte every
        ``slow_body`` seconds (a server that stalls mid-answer); two hostile servers:
        ``echo_secrets`` answers 10004 with an ``ErrorInfo`` that echoes the request's UserSig and
        the app's key, ``endless_headers`` sends HTTP 200 and then header lines without end. A 3xx
        ``http_status`` carries a ``Location`` (a client must not follow it).
        """
        raw = body.encode() if isinstance(body, str) else body
        self._native.inject(
            command, times, error_code, error_info, http_status, delay, drop, raw, truncate, reset, slow_body,
            echo_secrets, endless_headers,
        )

    def clear_faults(self) -> None:
        """Forgets every fault not yet used."""
        self._native.clear_faults()

    def set_latency(self, seconds: float) -> None:
        """Adds ``seconds`` to every answer from now on."""
        self._native.set_latency(seconds)

    def set_fault_rate(self, rate: float) -> None:
        """Chaos: the share of requests (0 to 1) that answer a random fault from now on instead of
        their answer (a dropped connection, a reset, a truncated body, HTTP 502, a slow body, 60007
        or 10002, each as likely); the request log names each one's ``fault``."""
        self._native.set_fault_rate(rate)

    def set_rate_limit(self, per_second: Optional[float]) -> None:
        """Requests per second of each command before 60007 answers (None: no limit)."""
        self._native.set_rate_limit(per_second)

    def set_app_rate_limit(self, per_second: Optional[float]) -> None:
        """Requests per second of the whole app before 60011 answers (None: no limit)."""
        self._native.set_app_rate_limit(per_second)

    # -- the request log ------------------------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """Every request so far, oldest first: dicts with ``command``, ``random``, ``identifier``,
        ``error_code`` and more (arrival time, outcome). No secret is recorded."""
        return self._native.requests()

    def requests_since(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """The requests logged since ``cursor`` (start with 0) in the order they were logged, and
        the cursor for the next call: a way to follow the log without copying it whole each time."""
        return self._native.requests_since(cursor)

    def clear_requests(self) -> None:
        """Empties the request log."""
        self._native.clear_requests()
