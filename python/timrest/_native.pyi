"""Type stubs of the compiled module ``timrest._native`` (checked by ``mypy.stubtest``)."""

from collections.abc import Callable, Iterable, Mapping, Sequence
import datetime
import os
from typing import Any, Final, Optional, Union, final

from ._progress import ProgressArg
from .exceptions import TimError

__all__ = [
    "__version__",
    "Client",
    "AsyncRunner",
    "JobHandle",
    "batch_report",
    "CallInfo",
    "Event",
    "BatchReport",
    "ItemResult",
    "PurgePlan",
    "NoSpeaking",
    "HistoryMessage",
    "HistoryPage",
    "RecallResult",
    "StepResult",
    "JobReport",
    "JobControl",
    "PERMANENT",
    "Emulator",
    "DEMO_SDKAPPID",
    "DEMO_SECRET_KEY",
    "DEMO_SPAMMER",
    "EMULATOR_READY_PREFIX",
    "serve_emulator",
    "gen_usersig",
    "inspect_usersig",
    "verify_usersig",
    "error_kinds",
    "defaults",
]

__version__: Final[str]
DEMO_SDKAPPID: Final[int]
DEMO_SECRET_KEY: Final[str]
DEMO_SPAMMER: Final[str]
EMULATOR_READY_PREFIX: Final[str]
PERMANENT: Final[int]

@final
class CallInfo:
    """What a successful call cost."""

    @property
    def random(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def elapsed(self) -> float: ...

@final
class ItemResult:
    """The outcome of one item of ``Client.delete_many``."""

    @property
    def index(self) -> int: ...
    @property
    def group_id(self) -> Optional[str]: ...
    @property
    def sender(self) -> Optional[str]: ...
    @property
    def topic_id(self) -> Optional[str]: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> Optional[TimError]: ...
    @property
    def random(self) -> Optional[int]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    def to_record(self) -> dict[str, Any]: ...

@final
class BatchReport:
    """What ``Client.delete_many`` did."""

    @property
    def results(self) -> list[ItemResult]: ...
    @property
    def ok(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def stopped_early(self) -> bool: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def abandoned(self) -> int: ...
    @property
    def skipped(self) -> list[tuple[str, str]]: ...
    def to_records(self) -> list[dict[str, Any]]: ...
    def __len__(self) -> int: ...
    def _repr_html_(self) -> str: ...

@final
class PurgePlan:
    """What ``Client.purge_sender`` would delete, and the groups it would leave alone."""

    @property
    def sender(self) -> str: ...
    @property
    def items(self) -> list[tuple[str, str, Optional[str]]]: ...
    @property
    def skipped(self) -> list[tuple[str, str]]: ...
    @property
    def groups(self) -> int: ...
    def __len__(self) -> int: ...

@final
class NoSpeaking:
    """An account's global mute: seconds left of each (0: none; ``PERMANENT``: for ever)."""

    @property
    def c2c_seconds(self) -> int: ...
    @property
    def group_seconds(self) -> int: ...

@final
class HistoryMessage:
    """One message of a ``HistoryPage``."""

    @property
    def from_account(self) -> str: ...
    @property
    def msg_seq(self) -> int: ...
    @property
    def msg_time_stamp(self) -> int: ...
    @property
    def msg_random(self) -> int: ...
    @property
    def is_place_msg(self) -> int: ...
    @property
    def msg_body(self) -> Any: ...

@final
class HistoryPage:
    """One page of ``group_msg_get_simple``, newest first."""

    @property
    def is_finished(self) -> bool: ...
    @property
    def messages(self) -> list[HistoryMessage]: ...
    def __len__(self) -> int: ...

@final
class RecallResult:
    """What ``group_msg_recall`` said of one sequence number."""

    @property
    def msg_seq(self) -> int: ...
    @property
    def ret_code(self) -> int: ...
    @property
    def ok(self) -> bool: ...

@final
class StepResult:
    """One step of a ``purge_senders`` job: also one line of its report."""

    @property
    def account(self) -> str: ...
    @property
    def group_id(self) -> Optional[str]: ...
    @property
    def topic_id(self) -> Optional[str]: ...
    @property
    def step(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def code(self) -> Optional[int]: ...
    @property
    def detail(self) -> str: ...
    @property
    def recalled(self) -> int: ...
    @property
    def error_kind(self) -> Optional[str]: ...
    @property
    def ok(self) -> bool: ...
    def to_record(self) -> dict[str, Any]: ...

@final
class JobReport:
    """What a ``purge_senders`` job did."""

    @property
    def steps(self) -> list[StepResult]: ...
    @property
    def plan(self) -> list[tuple[str, str, str, Optional[str]]]: ...
    @property
    def calls(self) -> dict[str, int]: ...
    @property
    def ok(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def recalled(self) -> int: ...
    @property
    def resumed(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def stopped_early(self) -> bool: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def abandoned(self) -> int: ...
    @property
    def dry_run(self) -> bool: ...
    def to_records(self) -> list[dict[str, Any]]: ...
    def bound(self, rate: float) -> float: ...
    def __len__(self) -> int: ...

@final
class JobControl:
    """Stops a running ``purge_senders`` job from another thread."""

    def __new__(cls) -> JobControl: ...
    def cancel(self) -> None: ...

@final
class Event:
    """One step of a call, as an ``on_event`` hook receives it (immutable)."""

    @property
    def kind(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def command(self) -> str: ...
    @property
    def server_address(self) -> str: ...
    @property
    def server_port(self) -> int: ...
    @property
    def attempt(self) -> Optional[int]: ...
    @property
    def http_status(self) -> Optional[int]: ...
    @property
    def code(self) -> Optional[int]: ...
    @property
    def error_kind(self) -> Optional[str]: ...
    @property
    def duration(self) -> Optional[float]: ...
    @property
    def random(self) -> Optional[int]: ...
    @property
    def rate(self) -> Optional[float]: ...
    @property
    def limiter_backend(self) -> Optional[str]: ...

#: What ``on_event=`` takes: one callable, or a list of them.
_EventHook = Union[Callable[[Event], Any], Sequence[Callable[[Event], Any]]]

@final
class Client:
    """A TIM REST client; thread-safe, meant to be shared."""

    def __new__(
        cls,
        sdkappid: int,
        *,
        secret_key: Optional[str] = None,
        usersig: Optional[str] = None,
        identifier: str = "administrator",
        region: str = "china",
        base_url: Optional[str] = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        deadline: float = 30.0,
        max_retries: int = 3,
        rate_limit: Optional[float] = 100.0,
        usersig_ttl: int = 86400,
        proxy: Optional[str] = None,
        ca_pem: Optional[bytes] = None,
        platform_verifier: bool = False,
        rate_limit_url: Optional[str] = None,
        rate_limit_fallback: str = "local",
        rate_limit_fallback_fraction: float = 0.25,
        rate_limit_timeout: float = 0.05,
        rate_limit_prefix: str = "timrest",
        rate_limit_clock: str = "redis",
        rate_limit_adaptive: bool = True,
        rate_limit_ca_pem: Optional[Union[str, bytes]] = None,
        rate_limit_client_cert_pem: Optional[Union[str, bytes]] = None,
        rate_limit_client_key_pem: Optional[Union[str, bytes]] = None,
        on_event: Optional[_EventHook] = None,
    ) -> Client: ...
    @staticmethod
    def from_env(
        *,
        sdkappid: Optional[int] = None,
        secret_key: Optional[str] = None,
        usersig: Optional[str] = None,
        identifier: Optional[str] = None,
        region: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        deadline: Optional[float] = None,
        max_retries: Optional[int] = None,
        rate_limit: Optional[float] = ...,
        usersig_ttl: Optional[int] = None,
        proxy: Optional[str] = None,
        ca_pem: Optional[Union[str, bytes]] = None,
        platform_verifier: Optional[bool] = None,
        rate_limit_url: Optional[str] = None,
        rate_limit_fallback: Optional[str] = None,
        rate_limit_fallback_fraction: Optional[float] = None,
        rate_limit_timeout: Optional[float] = None,
        rate_limit_prefix: Optional[str] = None,
        rate_limit_clock: Optional[str] = None,
        rate_limit_adaptive: Optional[bool] = None,
        rate_limit_ca_pem: Optional[Union[str, bytes]] = None,
        rate_limit_client_cert_pem: Optional[Union[str, bytes]] = None,
        rate_limit_client_key_pem: Optional[Union[str, bytes]] = None,
        on_event: Optional[_EventHook] = None,
    ) -> Client: ...
    def delete_group_msg_by_sender(self, group_id: str, sender: str, topic_id: Optional[str] = None) -> None: ...
    def delete_by_sender(self, group_id: str, sender: str, topic_id: Optional[str] = None) -> CallInfo: ...
    def delete_many(
        self,
        items: Iterable[Union[tuple[str, str], tuple[str, str, Optional[str]], Mapping[str, Optional[str]]]],
        *,
        concurrency: int = 16,
        progress: ProgressArg = False,
        stop_on_error: bool = False,
        on_result: Optional[Callable[[ItemResult], object]] = None,
        keep_results: bool = True,
    ) -> BatchReport: ...
    def purge_plan(
        self,
        sender: str,
        *,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        page_size: int = 1000,
    ) -> PurgePlan: ...
    def purge_sender(
        self,
        sender: str,
        *,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        concurrency: int = 16,
        progress: ProgressArg = False,
        stop_on_error: bool = False,
        on_result: Optional[Callable[[ItemResult], object]] = None,
        page_size: int = 1000,
    ) -> BatchReport: ...
    def set_no_speaking(
        self, account: str, c2c_seconds: Optional[int] = ..., group_seconds: Optional[int] = ...
    ) -> None: ...
    def get_no_speaking(self, account: str) -> NoSpeaking: ...
    def kick(self, account: str) -> None: ...
    def forbid_send_msg(
        self, group_id: str, members: Iterable[str], mute_time: int, topic_id: Optional[str] = None
    ) -> None: ...
    def delete_group_member(
        self, group_id: str, members: Iterable[str], silence: bool = True, reason: Optional[str] = None
    ) -> None: ...
    def group_msg_get_simple(
        self,
        group_id: str,
        req_msg_number: int = 20,
        req_msg_seq: Optional[int] = None,
        with_recalled: bool = False,
        topic_id: Optional[str] = None,
    ) -> HistoryPage: ...
    def group_msg_recall(
        self, group_id: str, msg_seqs: Sequence[int], reason: Optional[str] = None, topic_id: Optional[str] = None
    ) -> list[RecallResult]: ...
    def purge_senders(
        self,
        senders: Iterable[str],
        *,
        mute: bool = False,
        kick: bool = False,
        remove: bool = False,
        deep: bool = False,
        since: Optional[Union[int, float, "datetime.datetime", "datetime.timedelta"]] = None,
        dry_run: bool = False,
        report: Optional[Union[str, "os.PathLike[str]"]] = None,
        resume: bool = False,
        group_types: Optional[Sequence[str]] = None,
        include_topics: bool = True,
        concurrency: int = 16,
        progress: ProgressArg = False,
        on_result: Optional[Callable[[StepResult], object]] = None,
        page_size: int = 1000,
        control: Optional[JobControl] = None,
    ) -> JobReport: ...
    def call(self, service: str, command: str, body: Optional[dict[str, Any]] = None) -> dict[str, Any]: ...
    @property
    def sdkappid(self) -> int: ...
    @property
    def identifier(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def auth(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def deadline(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def rate_limit(self) -> Optional[float]: ...
    @property
    def rate_limit_url(self) -> Optional[str]: ...
    @property
    def rate_limit_fallback(self) -> str: ...
    @property
    def effective_rate_limit(self) -> Optional[float]: ...
    def stats(self) -> dict[str, Any]: ...
    @property
    def usersig_ttl(self) -> int: ...

@final
class JobHandle:
    """A call queued by an ``AsyncRunner``: ``cancel()`` drops it if no worker has started it."""

    def cancel(self) -> None: ...

@final
class AsyncRunner:
    """The worker pool of a ``timrest.AsyncClient`` (use that class)."""

    def __new__(cls, client: Client, max_workers: int) -> AsyncRunner: ...
    def delete_by_sender(
        self, group_id: str, sender: str, topic_id: Optional[str], loop_: Any, resolve: Any, future: Any
    ) -> JobHandle: ...
    def delete_item(self, index: int, item: Any, loop_: Any, resolve: Any, future: Any) -> JobHandle: ...
    def call(
        self, service: str, command: str, body: Optional[dict[str, Any]], loop_: Any, resolve: Any, future: Any
    ) -> JobHandle: ...
    def invoke(
        self,
        f: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Optional[dict[str, Any]],
        loop_: Any,
        resolve: Any,
        future: Any,
    ) -> JobHandle: ...
    def purge_plan(
        self,
        sender: str,
        group_types: Optional[list[str]],
        include_topics: bool,
        page_size: int,
        loop_: Any,
        resolve: Any,
        future: Any,
    ) -> JobHandle: ...
    def close(self, timeout: float) -> bool: ...
    def drain(self, key: int) -> None: ...
    def close_async(self, timeout: float, loop_: Any, resolve: Any, future: Any) -> None: ...
    @property
    def max_workers(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def closed(self) -> bool: ...

def batch_report(
    results: list[ItemResult],
    elapsed: float,
    stopped_early: bool,
    interrupted: bool,
    skipped: Optional[list[tuple[str, str]]] = None,
    counts: Optional[tuple[int, int]] = None,
) -> BatchReport: ...

@final
class Emulator:
    """The native TIM server emulator (use ``timrest.testing.Emulator``)."""

    def __new__(
        cls,
        *,
        sdkappid: int = 1400000000,
        secret_key: str = ...,
        admins: list[str] = ...,
        rate_limit: Optional[float] = 100.0,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        app_rate_limit: Optional[float] = None,
        fault_rate: float = 0.0,
    ) -> Emulator: ...
    @property
    def base_url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def running(self) -> bool: ...
    def create_group(
        self,
        group_type: str,
        group_id: Optional[str],
        name: str,
        owner: Optional[str],
        members: list[str],
        support_topic: bool,
    ) -> str: ...
    def create_topic(self, group_id: str, name: str, topic_id: Optional[str] = None) -> str: ...
    def seed_demo(self, named_ids: bool) -> list[tuple[str, str, str, int, int]]: ...
    def destroy_group(self, group_id: str) -> None: ...
    def send_group_msg(self, group_id: str, sender: str, text: str, topic_id: Optional[str]) -> int: ...
    def kick_count(self, account: str) -> int: ...
    def members(self, group_id: str) -> list[str]: ...
    def messages(self, group_id: str, topic_id: Optional[str], include_deleted: bool) -> list[dict[str, Any]]: ...
    def inject(
        self,
        command: str,
        times: int,
        error_code: Optional[int],
        error_info: Optional[str],
        http_status: Optional[int],
        delay: Optional[float],
        drop: bool,
        body: Optional[bytes],
        truncate: bool,
        reset: bool,
        slow_body: Optional[float],
        echo_secrets: bool = False,
        endless_headers: bool = False,
    ) -> None: ...
    def clear_faults(self) -> None: ...
    def set_fault_rate(self, rate: float) -> None: ...
    def set_latency(self, seconds: float) -> None: ...
    def set_rate_limit(self, per_second: Optional[float]) -> None: ...
    def set_app_rate_limit(self, per_second: Optional[float]) -> None: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def requests_since(self, cursor: int) -> tuple[list[dict[str, Any]], int]: ...
    def clear_requests(self) -> None: ...
    def shutdown(self) -> None: ...

def serve_emulator(prog: str, args: list[str]) -> int: ...
def gen_usersig(
    sdkappid: int, secret_key: str, identifier: str, expire: int = 86400, *, now: Optional[int] = None
) -> str: ...
def inspect_usersig(usersig: str) -> dict[str, Any]: ...
def verify_usersig(
    usersig: str, sdkappid: int, secret_key: str, identifier: str, *, now: Optional[int] = None
) -> None: ...
def error_kinds() -> list[dict[str, Any]]: ...
def defaults() -> dict[str, Any]: ...
