"""Forked workers, as a pre-fork server makes them (tests/python/test_hardening.py runs this in a
fresh, single-threaded interpreter, against the emulator of the test).

    python fork.py BASE_URL GROUP children     the parent calls, then 3 children each build a new
                                               client after the fork and call 20 times
    python fork.py BASE_URL GROUP both_sides   the parent's client is used on both sides of one
                                               fork, 300 calls each, at the same time
Exit status 0 when every call succeeded.
"""

from __future__ import annotations

import os
import sys

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY


def main() -> int:
    base_url, group, mode = sys.argv[1:4]

    def client() -> timrest.Client:
        return timrest.Client(DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY, base_url=base_url, rate_limit=None)

    parent = client()
    parent.delete_group_msg_by_sender(group, "spammer")
    if mode == "children":
        pids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                child = client()
                for _ in range(20):
                    child.delete_group_msg_by_sender(group, "spammer")
                os._exit(0)
            pids.append(pid)
        return 0 if all(os.waitpid(p, 0)[1] == 0 for p in pids) else 1
    pid = os.fork()
    failures = 0
    for _ in range(300):
        try:
            parent.delete_group_msg_by_sender(group, "spammer")
        except timrest.TimError as e:
            failures += 1
            print(f"{'child' if pid == 0 else 'parent'}: {e}", file=sys.stderr)
    if pid == 0:
        os._exit(0 if failures == 0 else 3)
    status = os.waitpid(pid, 0)[1]
    return 0 if failures == 0 and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
