"""Quick start: delete what one user sent in a group, against the local emulator.

Run it with ``python examples/python/quickstart.py`` after ``pip install .``. Against the real
service, build the client with ``timrest.Client(sdkappid, secret_key=...)`` or
``timrest.Client.from_env()`` instead of ``emu.client()``.
"""

from __future__ import annotations

import timrest
from timrest.testing import Emulator


def main() -> None:
    with Emulator() as emu:
        gid = emu.create_group("Public", name="demo", members=("alice", "spammer"))
        emu.send_group_msg(gid, "alice", "hello")
        for i in range(3):
            emu.send_group_msg(gid, "spammer", f"buy now #{i}")
        print("before:", [(m["From_Account"], m["MsgBody"][0]["MsgContent"]["Text"]) for m in emu.messages(gid)])

        client = emu.client()
        client.delete_group_msg_by_sender(gid, "spammer")
        print("after: ", [(m["From_Account"], m["MsgBody"][0]["MsgContent"]["Text"]) for m in emu.messages(gid)])

        try:
            client.delete_group_msg_by_sender("@TGS#NOSUCHGROUP", "spammer")
        except timrest.GroupNotFoundError as e:
            print(f"no such group: code={e.code} random={e.random} attempts={e.attempts}")


if __name__ == "__main__":
    main()
