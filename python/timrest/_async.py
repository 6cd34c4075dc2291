"""``timrest.AsyncClient``: the asyncio face, for async back-ends (FastAPI, Starlette, aiohttp).

Every call is queued to a bounded pool of Rust worker threads owned by the client, which run the
same blocking core as :class:`timrest.Client` (its limiter, retries and deadline) with the GIL
released, and complete the awaited future through ``loop.call_soon_threadsafe``. The event loop
never waits on the network, the rate limiter or a retry's backoff, and no Python thread is made per
call. A cancelled task stops waiting at once; the request already on the wire finishes in the
background and its result is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Optional, TypeVar, Union

from . import _native
from ._native import (
    PERMANENT,
    BatchReport,
    CallInfo,
    Client,
    HistoryPage,
    ItemResult,
    JobControl,
    JobHandle,
    JobReport,
    NoSpeaking,
    PurgePlan,
    RecallResult,
    StepResult,
)

__all__ = ["AsyncClient"]

T = TypeVar("T")

Item = Union[tuple[str, str], tuple[str, str, Optional[str]], Mapping[str, Optional[str]]]

#: Worker threads of one client at most, by default: calls in flight at once.
DEFAULT_MAX_WORKERS = 64


class AsyncClient:
    """A TIM REST client for asyncio. Same keywords as :class:`timrest.Client`, plus
    ``max_workers`` (the most calls in flight at once, 64 by default: each waits on a worker thread
    of the client, never on the event loop). Use it as ``async with AsyncClient(...) as client:``
    or call ``await client.aclose()`` when done. One client serves every task of a loop; a sync
    ``Client`` and an ``AsyncClient`` with the same ``rate_limit_url`` share one quota."""

    def __init__(self, sdkappid: int, *, max_workers: int = DEFAULT_MAX_WORKERS, **settings: Any) -> None:
        self._setup(Client(sdkappid, **settings), max_workers)

    def _setup(self, client: Client, max_workers: int) -> None:
        self._client = client
        self._runner = _native.AsyncRunner(client, max_workers)
        # Scheduled on the loop by the workers: completes the futures of finished calls.
        self._drain = self._runner.drain

    @classmethod
    def from_env(cls, *, max_workers: int = DEFAULT_MAX_WORKERS, **settings: Any) -> AsyncClient:
        """A client from the ``TIM_*`` environment variables, as :meth:`timrest.Client.from_env`:
        the same variables, and the same keywords to override them (``rate_limit=50``), plus
        ``max_workers``."""
        return cls._wrap(Client.from_env(**settings), max_workers)

    @classmethod
    def _wrap(cls, client: Client, max_workers: int = DEFAULT_MAX_WORKERS) -> AsyncClient:
        self = cls.__new__(cls)
        self._setup(client, max_workers)
        return self

    # -- life cycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def aclose(self, timeout: Optional[float] = None) -> bool:
        """Refuses new calls, waits for those in flight (at most ``timeout`` seconds; by default the
        client's deadline and a second), and stops the worker threads. Returns True when every call
        in flight finished in time. Calling it again does no harm."""
        wait = self._client.deadline + 1.0 if timeout is None else timeout
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._runner.close_async(wait, loop, self._drain, future)
        return bool(await future)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return bool(self._runner.closed)

    # -- calls --------------------------------------------------------------------------------

    async def delete_group_msg_by_sender(self, group_id: str, sender: str, topic_id: Optional[str] = None) -> None:
        """Deletes the messages ``sender`` sent among the latest 1000 of ``group_id`` (inside
        ``topic_id`` when given). Returns None; raises a ``timrest.TimError`` subclass at the await."""
        # The hot path, written out (no inner coroutines): it runs on the loop's thread per call.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CallInfo] = loop.create_future()
        handle = self._runner.delete_by_sender(group_id, sender, topic_id, loop, self._drain, future)
        try:
            await future
        except asyncio.CancelledError:
            handle.cancel()
            raise

    async def delete_by_sender(self, group_id: str, sender: str, topic_id: Optional[str] = None) -> CallInfo:
        """Like :meth:`delete_group_msg_by_sender`, returning the call's :class:`timrest.CallInfo`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CallInfo] = loop.create_future()
        return await _settle(future, self._runner.delete_by_sender(group_id, sender, topic_id, loop, self._drain, future))

    async def call(self, service: str, command: str, body: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Any REST command, as :meth:`timrest.Client.call`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        return await _settle(future, self._runner.call(service, command, body, loop, self._drain, future))

    async def delete_many(
        self,
        items: Union[Iterable[Item], AsyncIterable[Item]],
        *,
        concurrency: int = 16,
        progress: Any = None,
        stop_on_error: bool = False,
        on_result: Optional[Callable[[ItemResult], Any]] = None,
        keep_results: bool = True,
    ) -> BatchReport:
        """Deletes by sender for every item, ``concurrency`` (1 to 1024) at a time, and returns the
        same ``BatchReport`` as :meth:`timrest.Client.delete_many`. ``items`` may be any iterable or
        async iterable of ``(group_id, sender)``, ``(group_id, sender, topic_id)`` or dicts, read
        lazily (one item when a slot is free); a malformed item fails alone with
        ``InvalidArgumentError``. ``progress``: as for the sync client (True, or a callable), called
        on the loop. ``on_result``: called on the loop with each ``ItemResult`` as its item
        finishes, exactly once per item; if it raises, scheduling stops, the items in flight finish
        (and are handed to it too), and the exception is raised with the partial report as its
        ``.report``. Cancelling the task cancels the waits; the calls in flight finish in the
        background. ``keep_results=False``: the report keeps the counts but no ``ItemResult``
        (memory stays bounded whatever the input's size)."""
        return await self._run(items, concurrency, progress, stop_on_error, on_result, None, keep_results)

    async def purge_plan(
        self,
        sender: str,
        *,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        page_size: int = 1000,
    ) -> PurgePlan:
        """What :meth:`purge_sender` would delete, as :meth:`timrest.Client.purge_plan`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PurgePlan] = loop.create_future()
        types = None if group_types is None else list(group_types)
        return await _settle(future, self._runner.purge_plan(sender, types, include_topics, page_size, loop, self._drain, future))

    async def purge_sender(
        self,
        sender: str,
        *,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        concurrency: int = 16,
        progress: Any = None,
        stop_on_error: bool = False,
        on_result: Optional[Callable[[ItemResult], Any]] = None,
        page_size: int = 1000,
    ) -> BatchReport:
        """Deletes what ``sender`` sent in every group it joined (and in their topics), as
        :meth:`timrest.Client.purge_sender`: the :meth:`purge_plan`, run as :meth:`delete_many`
        runs. The report's ``skipped`` lists the groups whose type keeps no history."""
        plan = await self.purge_plan(sender, group_types=group_types, include_topics=include_topics, page_size=page_size)
        return await self._run(plan.items, concurrency, progress, stop_on_error, on_result, plan.skipped)

    # -- moderation (each runs the sync client's method on a worker thread) --------------------

    async def _invoke(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        return await _settle(future, self._runner.invoke(f, args, kwargs, loop, self._drain, future))

    async def set_no_speaking(
        self, account: str, c2c_seconds: Optional[int] = PERMANENT, group_seconds: Optional[int] = PERMANENT
    ) -> None:
        """Mutes ``account`` everywhere, as :meth:`timrest.Client.set_no_speaking`."""
        await self._invoke(self._client.set_no_speaking, account, c2c_seconds, group_seconds)

    async def get_no_speaking(self, account: str) -> NoSpeaking:
        """The global mute of ``account``, as :meth:`timrest.Client.get_no_speaking`."""
        result: NoSpeaking = await self._invoke(self._client.get_no_speaking, account)
        return result

    async def kick(self, account: str) -> None:
        """Ends the login state of ``account``, as :meth:`timrest.Client.kick`."""
        await self._invoke(self._client.kick, account)

    async def forbid_send_msg(
        self, group_id: str, members: Iterable[str], mute_time: int, topic_id: Optional[str] = None
    ) -> None:
        """Mutes members in one group or topic, as :meth:`timrest.Client.forbid_send_msg`."""
        await self._invoke(self._client.forbid_send_msg, group_id, members, mute_time, topic_id)

    async def delete_group_member(
        self, group_id: str, members: Iterable[str], silence: bool = True, reason: Optional[str] = None
    ) -> None:
        """Removes members from a group, as :meth:`timrest.Client.delete_group_member`."""
        await self._invoke(self._client.delete_group_member, group_id, members, silence, reason)

    async def group_msg_get_simple(
        self,
        group_id: str,
        req_msg_number: int = 20,
        req_msg_seq: Optional[int] = None,
        with_recalled: bool = False,
        topic_id: Optional[str] = None,
    ) -> HistoryPage:
        """One page of history, as :meth:`timrest.Client.group_msg_get_simple`."""
        page: HistoryPage = await self._invoke(
            self._client.group_msg_get_simple, group_id, req_msg_number, req_msg_seq, with_recalled, topic_id
        )
        return page

    async def group_msg_recall(
        self, group_id: str, msg_seqs: Sequence[int], reason: Optional[str] = None, topic_id: Optional[str] = None
    ) -> list[RecallResult]:
        """Recalls messages (visible to clients), as :meth:`timrest.Client.group_msg_recall`."""
        results: list[RecallResult] = await self._invoke(
            self._client.group_msg_recall, group_id, list(msg_seqs), reason, topic_id
        )
        return results

    async def purge_senders(
        self,
        senders: Iterable[str],
        *,
        mute: bool = False,
        kick: bool = False,
        remove: bool = False,
        deep: bool = False,
        since: Any = None,
        dry_run: bool = False,
        report: Any = None,
        resume: bool = False,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        concurrency: int = 16,
        progress: Any = False,
        on_result: Optional[Callable[[StepResult], Any]] = None,
        page_size: int = 1000,
    ) -> JobReport:
        """The incident job, as :meth:`timrest.Client.purge_senders`, on one worker thread of this
        client. ``on_result`` and a ``progress`` callable are called on the loop. Cancelling the
        task stops the job: the calls in flight end and are written to the report, and
        ``resume=True`` does the rest. If ``on_result`` raises, the job stops and the exception
        is raised with the partial report as its ``.report``."""
        loop = asyncio.get_running_loop()
        control = JobControl()
        raised: list[BaseException] = []

        def on_loop(f: Callable[..., Any]) -> Callable[..., None]:
            def run(*args: Any) -> None:
                if raised:
                    return
                try:
                    f(*args)
                except Exception as e:
                    raised.append(e)
                    control.cancel()

            def hand_over(*args: Any) -> None:
                loop.call_soon_threadsafe(run, *args)

            return hand_over

        shown = on_loop(progress) if callable(progress) else progress
        handed = on_loop(on_result) if on_result is not None else None
        future: asyncio.Future[JobReport] = loop.create_future()
        kwargs = dict(
            mute=mute, kick=kick, remove=remove, deep=deep, since=since, dry_run=dry_run, report=report,
            resume=resume, group_types=group_types, include_topics=include_topics, concurrency=concurrency,
            progress=shown, on_result=handed, page_size=page_size, control=control,
        )  # fmt: skip
        senders = list(senders) if not isinstance(senders, str) else senders
        handle = self._runner.invoke(self._client.purge_senders, (senders,), kwargs, loop, self._drain, future)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            handle.cancel()
            control.cancel()
            raise
        # Let the callbacks the job queued on the loop run before the report is handed over.
        await asyncio.sleep(0)
        if raised:
            raised[0].report = result  # type: ignore[attr-defined]
            raise raised[0]
        return result

    async def _run(
        self,
        items: Union[Iterable[Item], AsyncIterable[Item]],
        concurrency: int,
        progress: Any,
        stop_on_error: bool,
        on_result: Optional[Callable[[ItemResult], Any]],
        skipped: Optional[list[tuple[str, str]]],
        keep_results: bool = True,
    ) -> BatchReport:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 1024:
            raise _native_invalid_argument(f"concurrency must be between 1 and 1024, not {concurrency!r}")
        if isinstance(items, (str, bytes)):
            raise TypeError(f"items must be an iterable of (group_id, sender[, topic_id]) tuples or mappings, "
                            f"not a {type(items).__name__}; for one item: [(group_id, sender)]")
        from . import _progress

        reporter = _progress.reporter(progress) if progress not in (None, False) else None
        total = len(items) if isinstance(items, Iterable) and hasattr(items, "__len__") else None  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        results: list[ItemResult] = []
        in_flight: set[asyncio.Future[ItemResult]] = set()
        failed = stopped_early = False
        ok_count = done_count = 0
        raised: Optional[BaseException] = None

        def settle(done: set[asyncio.Future[ItemResult]]) -> None:
            nonlocal failed, ok_count, raised
            nonlocal done_count
            for f in done:
                handles.pop(f, None)
                r = f.result()
                done_count += 1
                if keep_results:
                    results.append(r)
                ok_count += r.ok
                failed = failed or not r.ok
                if on_result is not None:
                    try:
                        on_result(r)
                    except Exception as e:  # every item is still handed over; the first error wins
                        if raised is None:
                            raised = e
            if reporter is not None:
                reporter.update(done_count, ok_count, done_count - ok_count, total)

        stopped_by: Optional[BaseException] = None
        handles: dict[asyncio.Future[ItemResult], JobHandle] = {}
        try:
            index = 0
            async for item in _aiter(items):
                if (stop_on_error and failed) or raised is not None:
                    stopped_early = True
                    break
                while len(in_flight) >= concurrency:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    settle(done)
                if (stop_on_error and failed) or raised is not None:
                    stopped_early = True
                    break
                future: asyncio.Future[ItemResult] = loop.create_future()
                handles[future] = self._runner.delete_item(index, item, loop, self._drain, future)
                in_flight.add(future)
                index += 1
            while in_flight:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
        except asyncio.CancelledError:
            # The task was cancelled: the calls no worker has started yet are never sent.
            for future in in_flight:
                handles[future].cancel()
            raise
        except Exception as e:
            # The input or the progress callback raised: the calls already sent still finish and
            # are recorded, and the exception carries the partial report.
            stopped_by, stopped_early = e, True
            while in_flight:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                try:
                    settle(done)
                except Exception:  # a second failure of the callback: the first one is raised
                    pass
        finally:
            if reporter is not None:
                reporter.close()
        counts = None if keep_results else (ok_count, done_count - ok_count)
        report = _native.batch_report(results, time.monotonic() - started, stopped_early, False, skipped, counts)
        first = stopped_by if stopped_by is not None else raised
        if first is not None:
            first.report = report  # type: ignore[attr-defined]
            raise first
        return report

    # -- what it runs with --------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The sync :class:`timrest.Client` underneath: the same settings, connection pool, rate
        limiter (``client.effective_rate_limit``) and UserSig."""
        return self._client

    def stats(self) -> dict[str, Any]:
        """The counters of the client underneath, as :meth:`timrest.Client.stats`: the async
        calls run on it, so they are counted there (and their ``on_event`` hooks run on its worker
        threads)."""
        return self._client.stats()

    @property
    def sdkappid(self) -> int:
        """The SDKAppID."""
        return self._client.sdkappid

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return self._client.base_url

    @property
    def max_workers(self) -> int:
        """Calls in flight at once at most (the worker threads of this client)."""
        return int(self._runner.max_workers)

    def __repr__(self) -> str:
        return repr(self._client).replace("timrest.Client(", "timrest.AsyncClient(", 1)


async def _settle(future: asyncio.Future[T], handle: JobHandle) -> T:
    """Awaits a queued call; when the awaiting task is cancelled, a call no worker has started yet
    is dropped, so it never reaches the server (one already started finishes, its result dropped)."""
    try:
        return await future
    except asyncio.CancelledError:
        handle.cancel()
        raise


async def _aiter(items: Union[Iterable[Item], AsyncIterable[Item]]) -> Any:
    """Any iterable or async iterable, as an async iterator."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _native_invalid_argument(message: str) -> Exception:
    from .exceptions import InvalidArgumentError

    return InvalidArgumentError(message, kind="invalid_argument")
