"""Monitoring: the client's counters, and a hook that sees each step of each call.

Run it with ``python examples/python/monitoring.py`` after ``pip install .``. The emulator refuses
the first two requests for their rate (60007), as a busy app would see; the client retries, and
the hook and the stats show it.
"""

from __future__ import annotations

import json

import timrest
from timrest.testing import Emulator


def on_event(event: timrest.Event) -> None:
    # Runs on the thread that made the call; keep it quick. It never sees a secret or an account id.
    if event.kind == "attempt":
        print(f"attempt {event.attempt}: code={event.code} error={event.error_kind} "
              f"random={event.random} in {(event.duration or 0.0) * 1000:.1f} ms")


def main() -> None:
    with Emulator() as emu:
        gid = emu.create_group("Public", name="demo")
        emu.inject("delete_group_msg_by_sender", times=2, error_code=60007)
        client = emu.client(on_event=on_event)
        client.delete_group_msg_by_sender(gid, "spammer")
        print(json.dumps(client.stats(), sort_keys=True))


if __name__ == "__main__":
    main()
