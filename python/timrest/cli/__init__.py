"""The ``timrest`` command (also ``python -m timrest``), one module per command family::

    timrest delete --group G --sender S [--topic T]      delete what one sender posted in a group
    timrest delete-batch FILE [--report OUT [--resume]]  many deletions from CSV or JSON lines ('-': stdin)
    timrest purge SENDER... [--senders-file F] [--deep] [--dry-run] [--report OUT [--resume]]
                                                         delete what accounts posted in every group they joined
    timrest ban SENDER... [--kick] [--remove] [--deep [--since WHEN]] [--dry-run] [--report OUT [--resume]]
                                                         mute the accounts everywhere, then purge them
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
import json
import os
import sys
from collections.abc import Sequence
from typing import Optional

from .._native import __version__
from ..exceptions import ConfigError, InvalidArgumentError, TimError
from . import batch, emulator, purge, usersig
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PROG, CliError, _client_options, _describe, _one_line

__all__ = ["main", "build_parser"]


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

    batch.add_parsers(commands, client)
    purge.add_parsers(commands, client)
    usersig.add_parsers(commands, client)
    emulator.add_parsers(commands, client)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``timrest`` with ``argv`` (default: the command line); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [emulator.COMMAND]:
        return emulator.serve(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    finally:
        if getattr(args, "stats", False):
            for client in getattr(args, "clients_made", []):
                print(f"{PROG}: stats {json.dumps(client.stats(), sort_keys=True)}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
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
