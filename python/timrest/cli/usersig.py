"""``timrest usersig gen | inspect | verify``: make, read and check UserSigs (no network)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from typing import Any, Optional

from .._native import gen_usersig, inspect_usersig, verify_usersig
from ..exceptions import AuthError, TimError
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    _describe,
    _env,
    _env_sdkappid,
    _fail,
    _non_negative_int,
    _one_line,
    _plural,
    _positive_int,
    _sdkappid,
)


def add_parsers(commands: Any, client: argparse.ArgumentParser) -> None:
    """The ``usersig`` command family."""
    p = commands.add_parser("usersig", help="make, read and check UserSigs",
                            description="UserSig (version 2) tools; they need no network.")
    usersig = p.add_subparsers(dest="usersig_command", metavar="ACTION", required=True)
    g = usersig.add_parser("gen", help="sign a UserSig and print it",
                           description="Sign a UserSig for IDENTIFIER (default: --identifier, TIM_IDENTIFIER, or "
                           "administrator) and print it alone on stdout "
                           "(export TIM_USERSIG=\"$(timrest usersig gen)\").")
    g.add_argument("account", nargs="?", metavar="IDENTIFIER",
                   help="the account to sign for (the same as --identifier)")
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



def _usersig_key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sdkappid", type=_sdkappid, metavar="N", help="the SDKAppID (TIM_SDKAPPID)")
    p.add_argument("--secret-key", metavar="KEY", help="the app's secret key (TIM_SECRET_KEY)")
    p.add_argument("--identifier", metavar="ID", help="the account (TIM_IDENTIFIER; default administrator)")


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
    if args.account is not None:
        if args.identifier is not None and args.identifier != args.account:
            _fail(f"usersig gen: IDENTIFIER {args.account!r} and --identifier {args.identifier!r} differ; give one",
                  EXIT_USAGE)
        args.identifier = args.account
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

