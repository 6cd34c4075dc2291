"""What every command family shares: exit statuses, argument types, client settings from flags
and the ``TIM_*`` environment, and one-line output helpers."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from types import FrameType
from typing import IO, Any, NoReturn, Optional

from .._native import Client

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
    """Requests per second, or ``off`` (also ``none``) for no limit. 0 is refused, as in every face:
    it would allow nothing, and it reads too easily as "no limit"."""
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate (requests per second, or 'off'): {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 requests per second would allow nothing; for no limit, write 'off'")
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
                   "redis://[user:password@]host:port/db, redis+cluster://host:port[,host:port...] or "
                   "redis+sentinel://host:port[,host:port...]/service_name; rediss... with TLS (TIM_RATE_LIMIT_URL)")
    g.add_argument("--rate-limit-ca-pem", metavar="FILE",
                   help="PEM root certificates for a rediss:// limiter with a private CA (TIM_RATE_LIMIT_CA_PEM)")
    g.add_argument("--rate-limit-client-cert-pem", metavar="FILE",
                   help="a client certificate (PEM) for a limiter that asks for one (TIM_RATE_LIMIT_CLIENT_CERT_PEM)")
    g.add_argument("--rate-limit-client-key-pem", metavar="FILE",
                   help="the key (PEM) of that certificate (TIM_RATE_LIMIT_CLIENT_KEY_PEM)")
    g.add_argument("--rate-limit-fallback", choices=("local", "fail", "open"),
                   help="while Redis does not answer: pace alone at this client's share of the rate (local, "
                   "the default), wait for Redis until the deadline (fail), or send without a limit "
                   "(TIM_RATE_LIMIT_FALLBACK)")
    g.add_argument("--timeout", type=_seconds, metavar="S", help="per-attempt timeout (default 10)")
    g.add_argument("--connect-timeout", type=_seconds, metavar="S", help="connect timeout (default 5)")
    g.add_argument("--deadline", type=_seconds, metavar="S", help="overall deadline of one deletion, retries included (default 30)")
    g.add_argument("--max-retries", type=_retries, metavar="N", help="retries after the first attempt (default 3)")
    g.add_argument("--stats", action="store_true",
                   help="at the end, print the client's counters (calls, attempts, retries, 60007s, limiter "
                   "waits, fallback, connections) as one JSON line on stderr: 'timrest: stats {...}'")
    return parent


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
    for key, flag, var in (
        ("rate_limit_ca_pem", args.rate_limit_ca_pem, "TIM_RATE_LIMIT_CA_PEM"),
        ("rate_limit_client_cert_pem", args.rate_limit_client_cert_pem, "TIM_RATE_LIMIT_CLIENT_CERT_PEM"),
        ("rate_limit_client_key_pem", args.rate_limit_client_key_pem, "TIM_RATE_LIMIT_CLIENT_KEY_PEM"),
    ):
        path = flag if flag is not None else _env(var)
        if path is not None:
            try:
                kwargs[key] = pathlib.Path(path).read_bytes()
            except OSError as e:
                source = "--" + key.replace("_", "-") if flag is not None else var
                raise CliError(f"{source} names {path!r}, which cannot be read: {e.strerror}") from None
    kwargs["rate_limit"] = args.rate_limit
    for key in ("timeout", "connect_timeout", "deadline", "max_retries"):
        value = getattr(args, key)
        if value is not None:
            kwargs[key] = value
    return sdkappid, kwargs


def _client(args: argparse.Namespace) -> Client:
    sdkappid, kwargs = _settings(args)
    client = Client(sdkappid, **kwargs)
    # For --stats: main() prints the counters of the command's client when it ends.
    args.clients_made = [*getattr(args, "clients_made", []), client]
    return client


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


def _try_lock(file: IO[bytes]) -> bool:
    """Takes an exclusive lock on an open file for this process, without waiting: False when
    another process holds it. ``flock`` on Unix; on Windows a lock on the file's first byte."""
    if sys.platform == "win32":
        import msvcrt

        position = file.tell()
        file.seek(0)
        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            file.seek(position)
        return True
    import fcntl

    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _raise_interrupt(signum: int, frame: Optional[FrameType]) -> None:
    """A signal handler that stops a command as Ctrl-C does (installed for SIGTERM)."""
    raise KeyboardInterrupt
