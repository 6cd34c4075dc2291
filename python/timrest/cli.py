"""The ``timrest`` command (also ``python -m timrest``)::

    timrest delete --group G --sender S [--topic T]      delete what one sender posted in a group
    timrest delete-batch FILE [--report OUT [--resume]]  many deletions from CSV or JSON lines ('-': stdin)
    timrest purge SENDER [--dry-run] [--report OUT [--resume]]
                                                         delete what one account posted in every group it joined
    timrest usersig gen | inspect | verify               make, read and check UserSigs
    timrest emulator                                     serve the local TIM emulator until Ctrl-C
    timrest demo                                         a before-and-after demo on the embedded emulator

Credentials and settings come from flags or from the ``TIM_*`` environment (``TIM_SDKAPPID``,
``TIM_SECRET_KEY`` or ``TIM_USERSIG``, ``TIM_IDENTIFIER``, ``TIM_REGION``, ``TIM_BASE_URL``,
``TIM_RATE_LIMIT_URL``, ``TIM_RATE_LIMIT_FALLBACK``), as :meth:`timrest.Client.from_env` reads them;
a flag overrides its variable, and ``--secret-key`` or ``--usersig`` replaces whatever credential the
environment held. A variable that is set but empty is a usage error (exit 2), never "the default".

Exit status: 0 when everything succeeded; 1 when a deletion (or a UserSig check) failed; 2 for usage
and configuration errors; 130 when Ctrl-C stopped the command (after the partial report is written).
Errors are printed as one line on stderr, never with a secret in it.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from types import FrameType
from typing import Any, NoReturn, Optional, TextIO

from . import _native
from ._native import Client, __version__, gen_usersig, inspect_usersig, verify_usersig
from .exceptions import AuthError, ConfigError, InvalidArgumentError, TimError

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PROG = "timrest"
#: What ``Client.delete_many`` accepts: one worker thread per request in flight.
MAX_CONCURRENCY = 1024


class CliError(Exception):
    """A failure reported as one line on stderr, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


# -- arguments ------------------------------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {value}")
    return value


def _retries(text: str) -> int:
    value = _non_negative_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be at most 100, not {value}")
    return value


def _concurrency(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CONCURRENCY}, not {value}")
    return value


def _page_size(text: str) -> int:
    n = _positive_int(text)
    if n > 5000:
        raise argparse.ArgumentTypeError(f"at most 5000 groups per page, not {n}")
    return n


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text!r}")
    return value


def _rate(text: str) -> Optional[float]:
    """Requests per second, or ``off`` (also ``none``, ``0``) for no limit."""
    if text.strip().lower() in ("off", "none", "0", "0.0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate (requests per second, or 'off'): {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of requests per second, or 'off': {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return value


def _sdkappid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def _client_options() -> argparse.ArgumentParser:
    """The settings every command that calls the TIM server shares (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group(
        "client settings",
        "Each flag overrides the TIM_* variable named with it. Prefer the environment for secrets: "
        "command-line flags are visible to other users of this machine.",
    )
    g.add_argument("--sdkappid", type=_sdkappid, metavar="N", help="the app's SDKAppID (TIM_SDKAPPID)")
    g.add_argument("--secret-key", metavar="KEY", help="the app's secret key; the client signs UserSigs (TIM_SECRET_KEY)")
    g.add_argument("--usersig", metavar="SIG", help="a ready UserSig for the identifier, instead of a key (TIM_USERSIG)")
    g.add_argument("--identifier", metavar="ADMIN", help="the App admin account (TIM_IDENTIFIER; default administrator)")
    g.add_argument("--region", metavar="NAME", help="china (default), singapore, seoul, tokyo, frankfurt, mumbai, "
                   "silicon-valley, jakarta (TIM_REGION)")
    g.add_argument("--base-url", metavar="URL", help="any server, e.g. the emulator's http://127.0.0.1:PORT (TIM_BASE_URL)")
    g.add_argument("--rate-limit", type=_rate, default=100.0, metavar="N|off",
                   help="requests per second for each command (default 100; 'off' for none)")
    g.add_argument("--rate-limit-url", metavar="URL",
                   help="share the rate limit through Redis with every client that names it: "
                   "redis://[:password@]host:port/db (TIM_RATE_LIMIT_URL)")
    g.add_argument("--rate-limit-fallback", choices=("local", "fail", "open"),
                   help="while Redis does not answer: pace alone at a quarter of the rate (local, the default), "
                   "fail, or send without a limit (TIM_RATE_LIMIT_FALLBACK)")
    g.add_argument("--timeout", type=_seconds, metavar="S", help="per-attempt timeout (default 10)")
    g.add_argument("--connect-timeout", type=_seconds, metavar="S", help="connect timeout (default 5)")
    g.add_argument("--deadline", type=_seconds, metavar="S", help="overall deadline of one deletion, retries included (default 30)")
    g.add_argument("--max-retries", type=_retries, metavar="N", help="retries after the first attempt (default 3)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The whole ``timrest`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tencent Cloud IM (TIM) REST client: delete what a sender posted in groups, one or many at "
        "a time, within the rate limit; make and check UserSigs; run a local TIM emulator.",
        epilog="Exit status: 0 all succeeded, 1 some deletion or check failed, 2 usage or configuration error, "
        "130 interrupted. 'timrest COMMAND --help' tells more.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    client = _client_options()

    p = commands.add_parser(
        "delete", parents=[client], help="delete what one sender posted in a group",
        description="Delete the messages SENDER posted among the latest 1000 of GROUP (inside TOPIC when given): "
        "group_open_http_svc/delete_group_msg_by_sender.",
    )
    p.add_argument("--group", required=True, metavar="GROUP", help="the group ID")
    p.add_argument("--sender", required=True, metavar="SENDER", help="the UserID whose messages go")
    p.add_argument("--topic", metavar="TOPIC", help="a topic of a topic-enabled Community group")
    p.set_defaults(run=_cmd_delete)

    p = commands.add_parser(
        "delete-batch", parents=[client], help="many deletions from a CSV or JSON-lines file",
        description="Delete by sender for every item of FILE, --concurrency at a time, within the client's rate limit. "
        "FILE ('-' for stdin) holds CSV rows 'group,sender[,topic]' (an optional header row names the columns "
        "group_id, sender, topic_id) or JSON lines ({\"group_id\": ..., \"sender\": ..., \"topic_id\": ...} or "
        "[group, sender, topic]). Blank lines and lines starting with '#' are skipped. It is read lazily. "
        "Each outcome is written as a JSON line (line, index, group_id, sender, topic_id, ok, error, kind, code, "
        "message, random, attempts, elapsed) and flushed as soon as its item finishes, in the order items finish, "
        "so a crash loses at most the items in flight; a summary goes to stderr. Ctrl-C stops scheduling and lets "
        "the requests in flight finish. --resume with the same --report sends only the items the report does not "
        "show as ok (an item is its group_id, sender and topic_id) and appends to it.",
    )
    p.add_argument("file", metavar="FILE", help="the items, or '-' for stdin")
    p.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto",
                   help="how FILE is written (default auto: JSON lines when the first item starts with '{' or '[')")
    _batch_options(p, "items")
    p.set_defaults(run=_cmd_delete_batch)

    p = commands.add_parser(
        "purge", parents=[client], help="delete what one account posted in every group it joined",
        description="Delete what SENDER posted in every group it joined (group_open_http_svc/get_joined_group_list, "
        "all pages) and in each topic of the topic-enabled Communities among them (million_group_open_http_svc/"
        "get_topic), --concurrency at a time, within the client's rate limit. AVChatRoom and BChatRoom groups keep "
        "no history: they are skipped and reported as such. The report is the JSON lines of delete-batch (without "
        "'line'), plus one line per skipped group; --resume finishes an interrupted purge.",
    )
    p.add_argument("sender", metavar="SENDER", help="the account whose messages go")
    p.add_argument("--dry-run", action="store_true",
                   help="list the groups (GROUP) and topics (GROUP<TAB>TOPIC) that would be cleaned, and delete nothing")
    p.add_argument("--group-type", action="append", metavar="TYPE",
                   help="only groups of this type (repeatable): Public, Private (Work), ChatRoom (Meeting), Community")
    p.add_argument("--no-topics", dest="topics", action="store_false",
                   help="do not delete inside the topics of topic-enabled Communities")
    p.add_argument("--page-size", type=_page_size, default=1000, metavar="N",
                   help="groups per get_joined_group_list page (default 1000, at most 5000)")
    _batch_options(p, "deletions")
    p.set_defaults(run=_cmd_purge)

    p = commands.add_parser("usersig", help="make, read and check UserSigs",
                            description="UserSig (version 2) tools; they need no network.")
    usersig = p.add_subparsers(dest="usersig_command", metavar="ACTION", required=True)
    g = usersig.add_parser("gen", help="sign a UserSig and print it",
                           description="Sign a UserSig for IDENTIFIER and print it alone on stdout "
                           "(export TIM_USERSIG=\"$(timrest usersig gen)\").")
    _usersig_key_options(g)
    g.add_argument("--expire", type=_positive_int, default=86400, metavar="S", help="validity in seconds (default 86400)")
    g.add_argument("--now", type=_non_negative_int, metavar="UNIX", help="sign as of this Unix time (default: now)")
    g.set_defaults(run=_cmd_usersig_gen)
    i = usersig.add_parser("inspect", help="show what a UserSig says (no key needed)",
                           description="Decode a UserSig and show its identifier, sdkappid, signing time and expiry.")
    i.add_argument("usersig", nargs="?", metavar="USERSIG", help="the UserSig, '-' for stdin (default: TIM_USERSIG)")
    i.add_argument("--json", action="store_true", help="print the fields as one JSON object")
    i.set_defaults(run=_cmd_usersig_inspect)
    v = usersig.add_parser("verify", help="check a UserSig against the key",
                           description="Check a UserSig as the TIM server does: sdkappid, identifier, expiry, "
                           "then the signature. Exit 0 when valid, 1 when not.")
    v.add_argument("usersig", nargs="?", metavar="USERSIG", help="the UserSig, '-' for stdin (default: TIM_USERSIG)")
    _usersig_key_options(v)
    v.add_argument("--now", type=_non_negative_int, metavar="UNIX", help="check as of this Unix time (default: now)")
    v.set_defaults(run=_cmd_usersig_verify)

    p = commands.add_parser(
        "emulator", help="serve the local TIM emulator until Ctrl-C",
        description="Serve the TIM REST emulator in this process. Prints its base URL alone on the first line "
        "of stdout, then serves until Ctrl-C (or SIGTERM). Point a client at it with --base-url or TIM_BASE_URL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="port (default 0: a free one)")
    p.add_argument("--sdkappid", type=_sdkappid, default=_native.DEMO_SDKAPPID, metavar="N",
                   help=f"the app it serves (default the demo app {_native.DEMO_SDKAPPID})")
    p.add_argument("--secret-key", metavar="KEY",
                   help=f"the app's key (default: the demo key of the official libraries, {_native.DEMO_SECRET_KEY})")
    p.add_argument("--admin", action="append", metavar="ID", help="an App admin account (repeatable; default administrator)")
    p.add_argument("--rate-limit", type=_rate, default=100.0, metavar="N|off",
                   help="requests per second of each command before it answers 60007 (default 100; 'off' for none)")
    p.add_argument("--latency", type=_seconds, default=0.0, metavar="S", help="seconds added to every answer (default 0)")
    p.add_argument("--log", metavar="FILE",
                   help="append the request log to FILE as JSON lines while serving (command, random, identifier, "
                        "error_code, body...; never a secret), flushed every 0.2 s and on exit")
    p.add_argument("--seed-demo", action="store_true",
                   help="create the demo's groups, with their names as IDs (release-team, ops-oncall, friday-meetup), "
                   "each with messages from spammer42 among others")
    p.set_defaults(run=_cmd_emulator)

    p = commands.add_parser(
        "demo", help="a before-and-after demo on the embedded emulator",
        description="Start the emulator in this process, seed groups, delete what one sender posted in all of them "
        "with delete_many over real HTTP, and show the history before and after. Needs no credentials or network.",
    )
    p.set_defaults(run=_cmd_demo)
    return parser


def _usersig_key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sdkappid", type=_sdkappid, metavar="N", help="the SDKAppID (TIM_SDKAPPID)")
    p.add_argument("--secret-key", metavar="KEY", help="the app's secret key (TIM_SECRET_KEY)")
    p.add_argument("--identifier", metavar="ID", help="the account (TIM_IDENTIFIER; default administrator)")


# -- settings from flags and the environment -------------------------------------------------------


def _env(name: str) -> Optional[str]:
    """A ``TIM_*`` variable, or None when unset; set but blank is an error (as in ``Client.from_env``):
    an unset variable in a script must not quietly mean the default, least of all for TIM_BASE_URL."""
    value = os.environ.get(name)
    if value is not None and not value.strip():
        raise CliError(f"{name} is set but empty; unset it or give it a value")
    return value


def _env_sdkappid() -> Optional[int]:
    text = _env("TIM_SDKAPPID")
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise CliError(f"TIM_SDKAPPID is not a positive integer: {text!r}") from None
    if value < 1:
        raise CliError(f"TIM_SDKAPPID is not a positive integer: {text!r}")
    return value


def _settings(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """The sdkappid and the ``Client`` keywords: flags over the ``TIM_*`` environment."""
    sdkappid = args.sdkappid if args.sdkappid is not None else _env_sdkappid()
    if sdkappid is None:
        raise CliError("no sdkappid: give --sdkappid or set TIM_SDKAPPID")
    kwargs: dict[str, Any] = {}
    if args.secret_key is not None or args.usersig is not None:
        # A credential on the command line replaces the environment's, whichever kind that was.
        credentials = {"secret_key": args.secret_key, "usersig": args.usersig}
    else:
        credentials = {"secret_key": _env("TIM_SECRET_KEY"), "usersig": _env("TIM_USERSIG")}
    kwargs.update({k: v for k, v in credentials.items() if v is not None})
    if not kwargs:
        raise CliError("no credentials: give --secret-key or --usersig, or set TIM_SECRET_KEY or TIM_USERSIG")
    for key, flag, var in (
        ("identifier", args.identifier, "TIM_IDENTIFIER"),
        ("region", args.region, "TIM_REGION"),
        ("base_url", args.base_url, "TIM_BASE_URL"),
        ("rate_limit_url", args.rate_limit_url, "TIM_RATE_LIMIT_URL"),
        ("rate_limit_fallback", args.rate_limit_fallback, "TIM_RATE_LIMIT_FALLBACK"),
    ):
        value = flag if flag is not None else _env(var)
        if value is not None:
            kwargs[key] = value
    kwargs["rate_limit"] = args.rate_limit
    for key in ("timeout", "connect_timeout", "deadline", "max_retries"):
        value = getattr(args, key)
        if value is not None:
            kwargs[key] = value
    return sdkappid, kwargs


def _client(args: argparse.Namespace) -> Client:
    sdkappid, kwargs = _settings(args)
    return Client(sdkappid, **kwargs)


# -- output helpers --------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(error: BaseException) -> str:
    """``ClassName: message`` on one line. timrest's messages never hold a secret."""
    return _one_line(f"{type(error).__name__}: {error}")


def _fail(message: str, status: int) -> NoReturn:
    raise CliError(message, status)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


# -- delete ----------------------------------------------------------------------------------------


def _cmd_delete(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        info = client.delete_by_sender(args.group, args.sender, args.topic)
    except (InvalidArgumentError, ConfigError) as e:
        _fail(_describe(e), EXIT_USAGE)
    except TimError as e:
        _fail(_describe(e), EXIT_FAILED)
    where = f"{args.group} topic {args.topic}" if args.topic else args.group
    print(
        f"ok: deleted what {args.sender!r} posted in {where} "
        f"(random {info.random}, {_plural(info.attempts, 'attempt')}, {_duration(info.elapsed)})"
    )
    return EXIT_OK


# -- delete-batch ----------------------------------------------------------------------------------

_GROUP_KEYS = ("group_id", "group", "groupid")
_SENDER_KEYS = ("sender", "sender_account")
_TOPIC_KEYS = ("topic_id", "topic", "topicid")


def _field(name: str) -> Optional[str]:
    key = name.strip().lower()
    for canonical, keys in (("group_id", _GROUP_KEYS), ("sender", _SENDER_KEYS), ("topic_id", _TOPIC_KEYS)):
        if key in keys:
            return canonical
    return None


class _BadLine(Exception):
    pass


Key = tuple[str, str, Optional[str]]


def _key(item: Any) -> Optional[Key]:
    """The (group_id, sender, topic_id) an item names, or None when it names none."""
    if isinstance(item, tuple):
        group, sender, topic = (tuple(item) + (None,))[:3]
    elif isinstance(item, dict):
        group, sender, topic = item.get("group_id"), item.get("sender"), item.get("topic_id")
    else:
        return None
    if not isinstance(group, str) or not isinstance(sender, str):
        return None
    return (group, sender, topic if isinstance(topic, str) and topic else None)


class _Items:
    """The items of a CSV or JSON-lines stream, read lazily, with the line each came from.

    A line that cannot be read becomes an item that the batch refuses (nothing is sent for it);
    its own message replaces the batch's in the report. Items in ``done`` (finished by an earlier
    run, ``--resume``) are left out and counted in ``resumed``.
    """

    # What a bad line is handed to delete_many as: refused before sending, reported at its index.
    _REFUSED: dict[str, Any] = {"group_id": None, "sender": None}

    def __init__(self, stream: TextIO, fmt: str, done: frozenset[Key] = frozenset()) -> None:
        self._stream = stream
        self._format = fmt
        self._done = done
        self.lines: list[int] = []
        self.problems: dict[int, str] = {}
        self.resumed = 0

    def __iter__(self) -> Iterator[Any]:
        for line, item, problem in self._read():
            if problem is not None:
                self.problems[len(self.lines)] = f"line {line}: {problem}"
                item = self._REFUSED
            elif self._done and _key(item) in self._done:
                self.resumed += 1
                continue
            self.lines.append(line)
            yield item

    def _read(self) -> Iterator[tuple[int, Any, Optional[str]]]:
        # Look at the first line that holds an item to choose the format, then read on from there.
        head: list[str] = []
        fmt = self._format
        for text in self._stream:
            head.append(text)
            stripped = text.strip()
            if stripped and not stripped.startswith("#"):
                if fmt == "auto":
                    fmt = "jsonl" if stripped[0] in "{[" else "csv"
                break
        lines = itertools.chain(head, self._stream)
        if fmt == "jsonl":
            return self._jsonl(lines)
        return self._csv(lines)

    def _jsonl(self, lines: Iterable[str]) -> Iterator[tuple[int, Any, Optional[str]]]:
        for number, text in enumerate(lines, start=1):
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                yield number, self._json_item(stripped), None
            except _BadLine as e:
                yield number, None, str(e)

    @staticmethod
    def _json_item(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError as e:
            raise _BadLine(f"not valid JSON ({e})") from None
        if isinstance(value, list):
            if len(value) in (2, 3) and all(v is None or isinstance(v, str) for v in value):
                return tuple(value)
            raise _BadLine("a JSON array item must be [group, sender] or [group, sender, topic] (strings)")
        if not isinstance(value, dict):
            raise _BadLine("a JSON item must be an object or an array")
        item: dict[str, Any] = {}
        for key, v in value.items():
            canonical = _field(key)
            if canonical is None:
                raise _BadLine(f"unknown key {key!r} (the keys are group_id, sender and topic_id)")
            item[canonical] = v
        for required in ("group_id", "sender"):
            if required not in item:
                raise _BadLine(f"no {required!r}")
        return item

    def _csv(self, lines: Iterable[str]) -> Iterator[tuple[int, Any, Optional[str]]]:
        reader = csv.reader(lines, skipinitialspace=True)
        columns: Optional[list[str]] = None
        first = True
        last_line = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield reader.line_num, None, f"not valid CSV ({e})"
                continue
            number = last_line + 1  # the line the row starts on
            last_line = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if first:
                first = False
                if _field(cells[0]) == "group_id":
                    columns = self._header(cells)
                    continue
            if columns is not None:
                if len(cells) > len(columns):
                    yield number, None, f"{len(cells)} fields, but the header names {len(columns)}"
                    continue
                named = dict(zip(columns, cells))
            elif len(cells) in (2, 3):
                named = dict(zip(("group_id", "sender", "topic_id"), cells))
            else:
                yield number, None, f"{len(cells)} fields: a row is group,sender or group,sender,topic"
                continue
            missing = [k for k in ("group_id", "sender") if k not in named]
            if missing:
                yield number, None, f"no {missing[0]} (fewer fields than the header names)"
                continue
            yield number, {k: v for k, v in named.items() if k != "topic_id" or v}, None

    @staticmethod
    def _header(cells: list[str]) -> list[str]:
        columns = []
        for cell in cells:
            canonical = _field(cell)
            if canonical is None or canonical in columns:
                raise CliError(f"the CSV header has an unknown or repeated column {cell!r} "
                               "(the columns are group_id, sender, topic_id)")
            columns.append(canonical)
        if "sender" not in columns:
            raise CliError("the CSV header has no sender column")
        return columns


class _Counted:
    """An iterator with a known length (``delete_many`` then knows the total), still read lazily."""

    def __init__(self, items: Iterator[Any], count: int) -> None:
        self._items = items
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        return self._items


def _open_input(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror or e}", EXIT_USAGE)


class _Earlier:
    """What the report of an earlier run says (``--resume``): the items that succeeded, and the
    groups already reported as skipped."""

    def __init__(self) -> None:
        self.done: set[Key] = set()
        self.skipped: set[str] = set()


def _read_report(path: str) -> _Earlier:
    """Reads an existing JSON-lines report for ``--resume``. A last line cut short (the run was
    killed while writing it) is cut off, so that new lines start on a line of their own."""
    earlier = _Earlier()
    try:
        with open(path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                f.truncate(end)
                print(f"{PROG}: {path}: dropped an unfinished last line (the run was stopped while writing it)",
                      file=sys.stderr)
    except FileNotFoundError:
        return earlier  # nothing done yet: --resume starts from the beginning
    except OSError as e:
        _fail(f"cannot read the report {path}: {e.strerror or e}", EXIT_USAGE)
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            _fail(f"{path}: line {number} is not a line of a timrest report; --resume needs the report "
                  "this command wrote", EXIT_USAGE)
        if row.get("skipped"):
            if isinstance(row.get("group_id"), str):
                earlier.skipped.add(row["group_id"])
            continue
        key = _key(row)
        if row.get("ok") is True and key is not None:
            earlier.done.add(key)
    return earlier


class _Report:
    """The JSON-lines report, written one line per finished item and flushed at once, so that a
    crash loses at most the items in flight."""

    def __init__(self, path: Optional[str], append: bool) -> None:
        self.path = path
        if path is None or path == "-":
            self._out: TextIO = sys.stdout
            return
        try:
            self._out = open(path, "a" if append else "w", encoding="utf-8")
        except OSError as e:
            _fail(f"cannot write the report to {path}: {e.strerror or e}", EXIT_USAGE)

    def write(self, row: dict[str, Any]) -> None:
        self._out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not sys.stdout:
            self._out.close()


def _batch_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--report", metavar="OUT",
                   help="write the JSON-lines report to OUT instead of stdout, one line per item as it finishes")
    p.add_argument("--resume", action="store_true",
                   help=f"read the report OUT of an earlier run, send only the {what} it does not show as done, "
                        "and append to it (needs --report)")
    p.add_argument("--concurrency", type=_concurrency, default=16, metavar="N",
                   help=f"requests in flight at most (default 16, at most {MAX_CONCURRENCY})")
    p.add_argument("--stop-on-error", action="store_true", help="stop scheduling after the first failure")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (tqdm when installed, else a counter); default: when stderr is a terminal")


def _earlier(args: argparse.Namespace) -> _Earlier:
    if not args.resume:
        return _Earlier()
    if args.report is None or args.report == "-":
        _fail("--resume needs --report FILE: the report of the earlier run, which this run appends to", EXIT_USAGE)
    return _read_report(args.report)


def _run_batch(
    client: Client,
    args: argparse.Namespace,
    items: Any,
    report_out: _Report,
    resumed: Callable[[], int],
    lines: Optional[list[int]] = None,
    problems: Optional[dict[int, str]] = None,
    skipped: int = 0,
) -> int:
    """Runs ``delete_many`` with the report written item by item; prints the summary. ``resumed()``
    tells how many items earlier runs had done (known once the input has been read)."""
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    def on_result(result: Any) -> None:
        record = result.to_record()
        row: dict[str, Any] = {}
        if lines is not None:
            index = record["index"]
            row["line"] = lines[index] if index < len(lines) else None
        row.update(record)
        problem = (problems or {}).get(record["index"])
        if problem is not None:
            row.update(error="InvalidArgumentError", kind="invalid_argument", code=None, message=problem)
        report_out.write(row)

    try:
        report = client.delete_many(
            items, concurrency=args.concurrency, stop_on_error=args.stop_on_error, progress=progress,
            on_result=on_result,
        )
    finally:
        report_out.close()

    by_class: dict[str, int] = {}
    for result in report.results:
        if result.error is not None:
            name = type(result.error).__name__
            by_class[name] = by_class.get(name, 0) + 1
    before = resumed()
    total_ok = report.ok + before
    summary = (f"{PROG}: {total_ok} ok, {report.failed} failed of "
               f"{_plural(len(report) + before, 'item')} in {_duration(report.elapsed)}")
    if by_class:
        summary += " (" + ", ".join(f"{name}: {n}" for name, n in sorted(by_class.items())) + ")"
    if args.resume:
        summary += f"; {before} done by earlier runs, {len(report)} sent now"
    if skipped:
        summary += f"; {_plural(skipped, 'group')} skipped (no message history)"
    if args.report:
        summary += f"; report in {args.report}"
    print(summary, file=sys.stderr)
    if report.interrupted:
        print(f"{PROG}: interrupted: the items after the last one reported were not sent"
              + (f"; run again with --resume to finish" if args.report else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.stopped_early:
        print(f"{PROG}: stopped at the first failure (--stop-on-error): later items were not sent", file=sys.stderr)
    return EXIT_OK if report.failed == 0 and not report.stopped_early else EXIT_FAILED


def _cmd_delete_batch(args: argparse.Namespace) -> int:
    client = _client(args)
    earlier = _earlier(args)
    done = frozenset(earlier.done)
    source = _open_input(args.file)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    items = _Items(source, args.format, done)
    batch: Any = iter(items)
    try:
        if progress and source is not sys.stdin and os.path.isfile(args.file):
            # A first pass over a regular file counts the items still to send, so that the bar shows a
            # total and an ETA; it also finds a bad CSV header before anything is sent.
            with open(args.file, encoding="utf-8-sig", newline="") as again:
                batch = _Counted(batch, sum(1 for _ in _Items(again, args.format, done)))
        report_out = _Report(args.report, append=args.resume)
        return _run_batch(client, args, batch, report_out, lambda: items.resumed, items.lines, items.problems)
    finally:
        if source is not sys.stdin:
            source.close()


# -- purge -----------------------------------------------------------------------------------------


def _cmd_purge(args: argparse.Namespace) -> int:
    client = _client(args)
    earlier = _earlier(args) if not args.dry_run else _Earlier()
    try:
        plan = client.purge_plan(args.sender, group_types=args.group_type, include_topics=args.topics,
                                 page_size=args.page_size)
    except (InvalidArgumentError, ConfigError) as e:
        _fail(_describe(e), EXIT_USAGE)
    except TimError as e:
        _fail(f"listing the groups of {args.sender!r} failed: {_describe(e)}", EXIT_FAILED)
    kinds: dict[str, int] = {}
    for _, kind in plan.skipped:
        kinds[kind] = kinds.get(kind, 0) + 1
    skipped_text = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items()))
    if args.dry_run:
        for group, _, topic in plan.items:
            print(f"{group}\t{topic}" if topic else group)
        for group, kind in plan.skipped:
            print(f"{group}\t# skipped: {kind} keeps no message history")
        topics = sum(1 for _, _, t in plan.items if t)
        print(f"{PROG}: would delete what {args.sender!r} posted in {_plural(plan.groups, 'group')} and "
              f"{_plural(topics, 'topic')} ({_plural(len(plan), 'deletion')}); "
              f"{_plural(len(plan.skipped), 'group')} skipped" + (f" ({skipped_text})" if skipped_text else ""),
              file=sys.stderr)
        return EXIT_OK
    report_out = _Report(args.report, append=args.resume)
    for group, kind in plan.skipped:
        if group not in earlier.skipped:
            report_out.write({"group_id": group, "sender": args.sender, "topic_id": None, "group_type": kind,
                              "skipped": True, "ok": None})
    todo = [item for item in plan.items if _key(item) not in earlier.done]
    done_before = len(plan) - len(todo)
    return _run_batch(client, args, todo, report_out, lambda: done_before, skipped=len(plan.skipped))


# -- usersig ---------------------------------------------------------------------------------------


def _read_usersig(arg: Optional[str]) -> str:
    if arg == "-":
        text = sys.stdin.read().strip()
    elif arg is not None:
        text = arg.strip()
    else:
        text = _env("TIM_USERSIG") or ""
        if not text:
            _fail("no UserSig: give it as an argument, '-' for stdin, or set TIM_USERSIG", EXIT_USAGE)
    if not text:
        _fail("the UserSig is empty", EXIT_USAGE)
    return text.strip()


def _key_settings(args: argparse.Namespace) -> tuple[int, str, str]:
    sdkappid = args.sdkappid if args.sdkappid is not None else _env_sdkappid()
    if sdkappid is None:
        _fail("no sdkappid: give --sdkappid or set TIM_SDKAPPID", EXIT_USAGE)
    key = args.secret_key if args.secret_key is not None else _env("TIM_SECRET_KEY")
    if not key:
        _fail("no secret key: give --secret-key or set TIM_SECRET_KEY", EXIT_USAGE)
    identifier = args.identifier if args.identifier is not None else (_env("TIM_IDENTIFIER") or "administrator")
    return sdkappid, key, identifier.strip()


def _cmd_usersig_gen(args: argparse.Namespace) -> int:
    sdkappid, key, identifier = _key_settings(args)
    try:
        print(gen_usersig(sdkappid, key, identifier, args.expire, now=args.now))
    except TimError as e:
        _fail(_describe(e), EXIT_USAGE)
    return EXIT_OK


def _when(unix: int) -> str:
    try:
        return datetime.fromtimestamp(unix, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "beyond the calendar"


def _span(seconds: int) -> str:
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            return _plural(n, unit) if unit == "day" else f"{n} {unit}"
    return f"{seconds} s"


def _cmd_usersig_inspect(args: argparse.Namespace) -> int:
    usersig = _read_usersig(args.usersig)
    try:
        fields = inspect_usersig(usersig)
    except TimError as e:
        _fail(f"not a UserSig: {_one_line(str(e))}", EXIT_FAILED)
    if args.json:
        shown = dict(fields)
        if isinstance(shown.get("userbuf"), bytes):
            shown["userbuf"] = shown["userbuf"].hex()
        print(json.dumps(shown, sort_keys=True))
        return EXIT_OK
    left = int(fields["expires_at"]) - int(time.time())
    state = f"in {_span(left)}" if left >= 0 else f"expired {_span(left)} ago"
    print(f"identifier  {fields['identifier']}")
    print(f"sdkappid    {fields['sdkappid']}")
    print(f"signed at   {_when(fields['time'])}  ({fields['time']})")
    print(f"valid for   {fields['expire']} s  ({_span(fields['expire'])})")
    print(f"expires at  {_when(fields['expires_at'])}  ({state})")
    if "userbuf" in fields:
        print(f"userbuf     {bytes(fields['userbuf']).hex()} (hex)")
    return EXIT_OK


def _cmd_usersig_verify(args: argparse.Namespace) -> int:
    usersig = _read_usersig(args.usersig)
    sdkappid, key, identifier = _key_settings(args)
    try:
        verify_usersig(usersig, sdkappid, key, identifier, now=args.now)
    except AuthError as e:
        _fail(f"invalid UserSig: {_describe(e)}", EXIT_FAILED)
    except TimError as e:
        _fail(_describe(e), EXIT_USAGE)
    fields = inspect_usersig(usersig)
    print(f"valid: a UserSig for {identifier!r} of sdkappid {sdkappid}, expires at {_when(fields['expires_at'])}")
    return EXIT_OK


# -- emulator --------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt


def _append_log(emulator: Any, out: TextIO, cursor: int) -> int:
    """Appends the requests logged since ``cursor`` to ``out``; returns the next cursor."""
    records, cursor = emulator.requests_since(cursor)
    if records:
        out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        out.flush()
    return int(cursor)


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .testing import Emulator  # the native emulator: imported only for the commands that serve one

    admins = args.admin or ["administrator"]
    try:
        emulator = Emulator(
            sdkappid=args.sdkappid,
            secret_key=args.secret_key if args.secret_key is not None else _native.DEMO_SECRET_KEY,
            admins=admins,
            rate_limit=args.rate_limit,
            latency=args.latency,
            host="127.0.0.1" if args.host == "localhost" else args.host,
            port=args.port,
        )
    except (ValueError, OSError, RuntimeError, TimError) as e:
        _fail(f"cannot start the emulator: {_one_line(str(e))}", EXIT_USAGE)
    if args.seed_demo:
        for gid, kind, _ in _seed_demo(emulator, named_ids=True):
            print(f"{PROG} emulator: seeded {kind} group {gid} ({len(emulator.messages(gid))} messages)", file=sys.stderr)
    log: Optional[TextIO] = None
    cursor = 0
    if args.log is not None:
        try:
            log = open(args.log, "a", encoding="utf-8")
        except OSError as e:
            emulator.close()
            _fail(f"cannot write the log to {args.log}: {e.strerror or e}", EXIT_USAGE)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print(emulator.base_url, flush=True)
        limit = "no rate limit" if args.rate_limit is None else f"{args.rate_limit:g} requests/s"
        print(
            f"{PROG} emulator: serving sdkappid {args.sdkappid} (admins: {', '.join(admins)}; {limit}; "
            f"latency {args.latency:g} s) at {emulator.base_url}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        if log is None:
            while True:
                time.sleep(3600)
        cursor = 0
        while True:
            cursor = _append_log(emulator, log, cursor)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if log is not None:
            try:
                _append_log(emulator, log, cursor)
            finally:
                log.close()
        emulator.close()
    print(f"{PROG} emulator: stopped", file=sys.stderr)
    return EXIT_OK


# -- demo ------------------------------------------------------------------------------------------

_SPAMMER = "spammer42"
_DEMO_GROUPS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Public", "release-team", [
        ("alice", "Morning everyone! Stand-up in 10 minutes."),
        ("bob", "On my way."),
        (_SPAMMER, "CHEAP WATCHES >>> http://spam.example"),
        ("alice", "Bob, can you share the release notes?"),
        (_SPAMMER, "Limited offer!!! Click now"),
        ("bob", "Sure, posting them after the meeting."),
    ]),
    ("Work", "ops-oncall", [
        ("carol", "Disk alert on db-2 cleared."),
        (_SPAMMER, "Win a free phone, reply YES"),
        ("dave", "Thanks, closing the ticket."),
    ]),
    ("ChatRoom", "friday-meetup", [
        (_SPAMMER, "Crypto giveaway, send 1 coin get 2"),
        ("erin", "Pizza or tacos this week?"),
        ("frank", "Tacos!"),
        (_SPAMMER, "Last chance!!!"),
    ]),
]
_DISSOLVED = "old-lounge"


def _seed_demo(emulator: Any, *, named_ids: bool) -> list[tuple[str, str, str]]:
    """Creates the demo groups and their messages; returns (group ID, type, name) for each.

    With ``named_ids`` each group's ID is its name (``release-team`` …), so that a shell session
    can address them; otherwise the emulator makes ``@TGS#…`` IDs as Tencent does.
    """
    groups: list[tuple[str, str, str]] = []
    for kind, name, script in _DEMO_GROUPS:
        members = sorted({s for s, _ in script})
        gid = emulator.create_group(kind, group_id=name if named_ids else None, name=name, members=members)
        for sender, text in script:
            emulator.send_group_msg(gid, sender, text)
        groups.append((gid, kind, name))
    return groups


def _show_history(title: str, emulator: Any, groups: list[tuple[str, str, str]]) -> tuple[int, int]:
    """Prints every group's history; returns (messages, messages from the spammer)."""
    histories = [emulator.messages(gid) for gid, _, _ in groups]
    total = sum(len(h) for h in histories)
    spam = sum(m["From_Account"] == _SPAMMER for h in histories for m in h)
    print(f"{title}: {_plural(total, 'message')} in {_plural(len(groups), 'group')}, {spam} from {_SPAMMER!r}")
    for (gid, kind, name), history in zip(groups, histories):
        print(f"\n  {name}  ({kind} group {gid}, {_plural(len(history), 'message')})")
        if not history:
            print("    (no messages)")
        for m in history:
            sender = m["From_Account"]
            text = m["MsgBody"][0]["MsgContent"]["Text"] if m["MsgBody"] else ""
            mark = "   <- spam" if sender == _SPAMMER else ""
            print(f"    #{m['MsgSeq']:<3} {sender:<10} {text}{mark}")
    print()
    return total, spam


def _cmd_demo(args: argparse.Namespace) -> int:
    from .testing import Emulator

    print(f"{PROG} demo: delete everything one sender posted, across groups, on the embedded TIM emulator\n")
    with Emulator() as emulator:
        groups = _seed_demo(emulator, named_ids=False)
        emulator.create_group("Public", group_id=_DISSOLVED, name=_DISSOLVED)
        emulator.destroy_group(_DISSOLVED)

        client = emulator.client()
        print(f"  emulator  {emulator.base_url}  (in this process; sdkappid {emulator.sdkappid}, "
              f"admin {emulator.admins[0]!r}, signed with the demo key)")
        print(f"  client    {client!r}, rate limit {client.rate_limit:g}/s\n")

        before_total, before_spam = _show_history("Before", emulator, groups)
        items = [(gid, _SPAMMER) for gid, _, _ in groups] + [(_DISSOLVED, _SPAMMER)]
        print(f"Deleting: client.delete_many([(group, {_SPAMMER!r}) for each of {len(items)} groups], concurrency=4)")
        print(f"  ({_DISSOLVED!r} was dissolved on purpose, to show how a failed item is reported)\n")
        report = client.delete_many(items, concurrency=4)
        names = {gid: name for gid, _, name in groups}
        print(f"  {'group':<16} {'outcome':<30} {'attempts':>8}  time (waits for the limiter included)")
        for r in report.results:
            group = names.get(r.group_id or "", r.group_id or "?")
            outcome = "ok" if r.error is None else f"{type(r.error).__name__} ({r.error.code})"
            print(f"  {group:<16} {outcome:<30} {r.attempts:>8}  {_duration(r.elapsed)}")
        rate = client.rate_limit or 100.0
        print(f"\n  {report.ok} ok, {report.failed} failed in {_duration(report.elapsed)}. The times grow by about "
              f"{1000 / rate:g} ms a row: the rate limiter ({rate:g}/s, the quota) starts "
              f"requests at least that far apart, even with 4 in flight.\n")

        after_total, after_spam = _show_history("After", emulator, groups)
        deleted = before_spam - after_spam
        kept = after_total - after_spam
        print(f"Done: {_plural(deleted, 'message')} from {_SPAMMER!r} deleted, {after_spam} left; "
              f"the {kept} from everyone else untouched.")
        failed_as_expected = [type(r.error).__name__ for r in report.results if r.error is not None] == [
            "GroupNotFoundError"
        ]
        ok = after_spam == 0 and kept == before_total - before_spam and failed_as_expected
    print(f"\nTry it on your app: TIM_SDKAPPID=... TIM_SECRET_KEY=... {PROG} delete --group GROUP --sender USER")
    return EXIT_OK if ok else EXIT_FAILED


# -- entry point -----------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``timrest`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except CliError as e:
        print(f"{PROG}: error: {_one_line(str(e))}", file=sys.stderr)
        return e.status
    except (ConfigError, InvalidArgumentError) as e:
        print(f"{PROG}: error: {_describe(e)}", file=sys.stderr)
        return EXIT_USAGE
    except OverflowError as e:
        print(f"{PROG}: error: a number is out of range ({e})", file=sys.stderr)
        return EXIT_USAGE
    except UnicodeDecodeError as e:
        print(f"{PROG}: error: the input is not UTF-8 text ({e.reason} at byte {e.start})", file=sys.stderr)
        return EXIT_USAGE
    except TimError as e:
        print(f"{PROG}: error: {_describe(e)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`timrest ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
