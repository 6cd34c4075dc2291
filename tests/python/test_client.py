"""timrest.Client over real HTTP to the emulator: deletion, topics, retries, re-signing, threads,
configuration from the environment, and secrets kept out of every message, repr and log line."""

from __future__ import annotations

import asyncio

import logging
import pickle
import threading
from typing import Any

import pytest

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator

DELETE = "delete_group_msg_by_sender"


def senders(messages: list[dict[str, Any]]) -> list[str]:
    return [m["From_Account"] for m in messages]


def seconds(value: Any) -> float:
    """A time from the request log, in seconds (a number, or serde's {secs, nanos})."""
    if isinstance(value, dict):
        return float(value["secs"]) + float(value["nanos"]) / 1e9
    return float(value)


def test_delete_removes_only_that_senders_messages(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public", members=("leckie", "alice"))
    for i in range(3):
        emu.send_group_msg(gid, "leckie", f"spam {i}")
        emu.send_group_msg(gid, "alice", f"hello {i}")
    assert client.delete_group_msg_by_sender(gid, "leckie") is None
    assert senders(emu.messages(gid)) == ["alice"] * 3
    deleted = [m for m in emu.messages(gid, include_deleted=True) if m["From_Account"] == "leckie"]
    assert len(deleted) == 3 and all(m["IsPlaceMsg"] == 2 for m in deleted)
    record = emu.requests()[-1]
    assert (record["command"], record["identifier"], record["error_code"]) == (DELETE, "administrator", 0)


def test_delete_by_sender_returns_call_info_matching_the_request_log(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Private", members=("leckie",))
    info = client.delete_by_sender(gid, "leckie")
    assert isinstance(info, timrest.CallInfo)
    assert info.attempts == 1 and info.elapsed > 0
    assert info.random == emu.requests()[-1]["random"]
    assert repr(info).startswith("CallInfo(random=")


def test_topic_id_limits_the_deletion_to_one_topic(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Community", members=("leckie",), support_topic=True)
    news = emu.create_topic(gid, "news")
    chat = emu.create_topic(gid, "chat")
    assert news.startswith(gid) and chat.startswith(gid)
    emu.send_group_msg(gid, "leckie", "in news", topic_id=news)
    emu.send_group_msg(gid, "leckie", "in chat", topic_id=chat)
    client.delete_group_msg_by_sender(gid, "leckie", topic_id=news)
    assert emu.messages(gid, topic_id=news) == []
    assert senders(emu.messages(gid, topic_id=chat)) == ["leckie"]
    assert emu.requests()[-1]["body"]["TopicId"] == news


def test_unknown_sender_and_avchatroom_answer_ok(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("AVChatRoom")
    client.delete_group_msg_by_sender(gid, "nobody")
    assert emu.requests()[-1]["error_code"] == 0


def test_server_error_is_retried_until_success(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public", members=("leckie",))
    emu.send_group_msg(gid, "leckie", "spam")
    emu.inject(DELETE, times=2, error_code=10002)
    info = client.delete_by_sender(gid, "leckie")
    log = emu.requests()
    assert info.attempts == 3
    assert [r["error_code"] for r in log] == [10002, 10002, 0]
    assert info.random == log[-1]["random"]
    assert len({r["random"] for r in log}) == 3
    assert emu.messages(gid) == []


def test_transport_faults_are_retried_until_success(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public")
    emu.inject(DELETE, http_status=502)
    emu.inject(DELETE, drop=True)
    info = client.delete_by_sender(gid, "leckie")
    assert info.attempts == 3
    assert info.random == emu.requests()[-1]["random"]


def test_expired_usersig_answer_makes_a_key_holder_resign_and_retry_once(
    emu: Emulator, client: timrest.Client
) -> None:
    gid = emu.create_group("Public")
    emu.inject(DELETE, error_code=70001, error_info="UserSig expired")
    info = client.delete_by_sender(gid, "leckie")
    assert info.attempts == 2
    assert [r["error_code"] for r in emu.requests()] == [70001, 0]
    # Only once: a second expiry answer in a row is raised.
    emu.clear_requests()
    emu.inject(DELETE, times=2, error_code=70052)
    with pytest.raises(timrest.UserSigExpiredError) as error:
        client.delete_group_msg_by_sender(gid, "leckie")
    assert error.value.attempts == 2 and error.value.code == 70052
    assert error.value.random == emu.requests()[-1]["random"]


def test_non_retryable_codes_are_not_retried(emu: Emulator, client: timrest.Client) -> None:
    with pytest.raises(timrest.GroupNotFoundError) as error:
        client.delete_group_msg_by_sender("@TGS#MISSING", "leckie")
    assert error.value.attempts == 1 and len(emu.requests()) == 1


def test_threads_share_one_client_and_their_calls_overlap(emu: Emulator) -> None:
    """The GIL is released while a call waits: with emulator latency, the calls of several
    threads are in the emulator at the same time (the request log shows arrivals overlapping)."""
    client = emu.client(rate_limit=None, timeout=30.0, deadline=60.0)
    groups = [emu.create_group("Public", members=("leckie",)) for _ in range(4)]
    for gid in groups:
        emu.send_group_msg(gid, "leckie", "spam")
    emu.set_latency(1.0)  # long enough that a loaded machine still starts the calls within it
    barrier = threading.Barrier(len(groups))
    errors: list[BaseException] = []

    def work(gid: str) -> None:
        try:
            barrier.wait(timeout=30)
            client.delete_group_msg_by_sender(gid, "leckie")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    emu.set_latency(0.0)
    assert errors == []
    assert all(emu.messages(g) == [] for g in groups)
    log = [r for r in emu.requests() if r["command"] == DELETE]
    assert len(log) == 4
    spans = sorted((seconds(r["arrived"]), seconds(r["finished"])) for r in log)
    # Some request arrived while another was still being answered.
    overlapping = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert overlapping, spans


def test_client_limiter_spaces_requests(emu: Emulator) -> None:
    """A client limit of 3/s keeps a burst of calls under the emulator's 5/s window: no 60007."""
    emu.set_rate_limit(5.0)
    client = emu.client(rate_limit=3.0, max_retries=0)
    gid = emu.create_group("Public")
    for _ in range(8):
        client.delete_group_msg_by_sender(gid, "leckie")
    assert all(r["error_code"] == 0 for r in emu.requests())


def test_from_env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIM_USERSIG", "TIM_REGION", "TIM_IDENTIFIER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TIM_SDKAPPID", str(DEMO_SDKAPPID))
    monkeypatch.setenv("TIM_SECRET_KEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("TIM_BASE_URL", emu.base_url)
    gid = emu.create_group("Public", members=("leckie",))
    emu.send_group_msg(gid, "leckie", "spam")
    client = timrest.Client.from_env()
    assert (client.sdkappid, client.identifier, client.base_url) == (DEMO_SDKAPPID, "administrator", emu.base_url)
    client.delete_group_msg_by_sender(gid, "leckie")
    assert emu.messages(gid) == []

    monkeypatch.setenv("TIM_IDENTIFIER", "leckie")
    with pytest.raises(timrest.PermissionDeniedError):
        timrest.Client.from_env().delete_group_msg_by_sender(gid, "leckie")

    monkeypatch.delenv("TIM_SECRET_KEY")
    monkeypatch.setenv("TIM_IDENTIFIER", "administrator")
    monkeypatch.setenv("TIM_USERSIG", timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator"))
    assert timrest.Client.from_env().auth == "usersig"

    monkeypatch.setenv("TIM_SDKAPPID", "not-a-number")
    with pytest.raises(timrest.ConfigError):
        timrest.Client.from_env()
    monkeypatch.delenv("TIM_SDKAPPID")
    with pytest.raises(timrest.ConfigError, match="TIM_SDKAPPID is not set"):
        timrest.Client.from_env()
    monkeypatch.setenv("TIM_SDKAPPID", str(DEMO_SDKAPPID))
    monkeypatch.delenv("TIM_USERSIG")
    with pytest.raises(timrest.ConfigError, match="neither TIM_SECRET_KEY nor TIM_USERSIG is set"):
        timrest.Client.from_env()


def test_from_env_takes_the_constructors_keywords_over_the_environment(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TIM_USERSIG", "TIM_REGION", "TIM_IDENTIFIER", "TIM_RATE_LIMIT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TIM_SDKAPPID", str(DEMO_SDKAPPID))
    monkeypatch.setenv("TIM_SECRET_KEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("TIM_BASE_URL", "http://127.0.0.1:9")  # overridden below: nothing listens there
    client = timrest.Client.from_env(base_url=emu.base_url, rate_limit=50, timeout=2.5, max_retries=1)
    assert (client.base_url, client.rate_limit, client.timeout, client.max_retries) == (emu.base_url, 50.0, 2.5, 1)
    assert timrest.Client.from_env(base_url=emu.base_url, rate_limit=None).rate_limit is None
    assert timrest.Client.from_env(base_url=emu.base_url, identifier=None).identifier == "administrator"
    gid = emu.create_group("Public", members=("leckie",))
    emu.send_group_msg(gid, "leckie", "spam")
    client.delete_group_msg_by_sender(gid, "leckie")
    assert emu.messages(gid) == []

    async def main() -> tuple[float, str]:
        async with timrest.AsyncClient.from_env(base_url=emu.base_url, rate_limit=40, max_workers=4) as aio:
            await aio.delete_group_msg_by_sender(gid, "leckie")
            return aio.client.rate_limit or 0.0, aio.client.base_url

    assert asyncio.run(main()) == (40.0, emu.base_url)
    # The same checks as the constructor's, and an unknown keyword is a TypeError naming it.
    with pytest.raises(timrest.ConfigError, match="timeout"):
        timrest.Client.from_env(base_url=emu.base_url, timeout=-1.0)
    with pytest.raises(TypeError, match="'rate_limt'"):
        timrest.Client.from_env(rate_limt=50)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'rate_limt'"):
        timrest.AsyncClient.from_env(rate_limt=50)


def test_https_to_a_plain_http_server_says_so_and_is_not_retried(emu: Emulator) -> None:
    url = emu.base_url.replace("http://", "https://", 1)
    client = timrest.Client(DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY, base_url=url)
    with pytest.raises(timrest.ConfigError, match="does not speak TLS.*starts with http://") as e:
        client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie")
    assert (e.value.attempts, e.value.retryable) == (1, False)
    assert emu.requests() == []


def test_delete_many_refuses_a_string_for_its_items(emu: Emulator) -> None:
    """A str is iterable one character at a time: it used to give one failure per character."""
    client = emu.client()
    for items in ("g,spammer", b"g,spammer"):
        with pytest.raises(TypeError, match=r"not a (str|bytes); for one item: \[\(group_id, sender\)\]"):
            client.delete_many(items)  # type: ignore[arg-type]

    async def main() -> None:
        async with emu.async_client() as aio:
            with pytest.raises(TypeError, match="not a str"):
                await aio.delete_many("g,spammer")  # type: ignore[arg-type]

    asyncio.run(main())
    assert emu.requests() == [], "nothing was sent"


def test_a_base_url_port_out_of_range_is_a_config_error(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    before = len(emu.requests())
    for url in ("http://127.0.0.1:99999", "http://127.0.0.1:8080x", "http://127.0.0.1:-1", "https://h:0"):
        with pytest.raises(timrest.ConfigError, match="1 to 65535"):
            timrest.Client(DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY, base_url=url)
    monkeypatch.setenv("TIM_SDKAPPID", str(DEMO_SDKAPPID))
    monkeypatch.setenv("TIM_SECRET_KEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("TIM_BASE_URL", emu.base_url.rsplit(":", 1)[0] + ":70000")
    with pytest.raises(timrest.ConfigError, match="1 to 65535"):
        timrest.Client.from_env()
    assert len(emu.requests()) == before


def test_a_rate_of_zero_is_a_config_error_that_names_how_to_turn_the_limiter_off() -> None:
    with pytest.raises(timrest.ConfigError, match="rate_limit=None"):
        timrest.Client(DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY, rate_limit=0)


def test_settings_are_readable(emu: Emulator) -> None:
    client = emu.client(timeout=2.5, connect_timeout=1.5, deadline=9.0, max_retries=1, rate_limit=None, usersig_ttl=600)
    assert (client.timeout, client.connect_timeout, client.deadline) == (2.5, 1.5, 9.0)
    assert (client.max_retries, client.rate_limit, client.usersig_ttl) == (1, None, 600)
    assert emu.client().rate_limit == 100.0
    assert timrest.Client(1, secret_key="k", region="singapore").base_url == "https://adminapisgp.im.qcloud.com"


def test_call_returns_the_whole_answer(emu: Emulator, client: timrest.Client) -> None:
    answer = client.call("group_open_http_svc", "create_group", {"Type": "Public", "Name": "made by call"})
    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0
    gid = answer["GroupId"]
    sent = client.call(
        "group_open_http_svc",
        "send_group_msg",
        {"GroupId": gid, "Random": 7, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]},
    )
    assert sent["MsgSeq"] == 1
    assert [m["MsgSeq"] for m in emu.messages(gid)] == [1]
    with pytest.raises(TypeError):
        client.call("group_open_http_svc", "create_group", {"Type": object()})


def test_client_is_not_picklable_and_repr_shows_no_secret(emu: Emulator) -> None:
    canary = "canary-key-6f1c2e"
    client = timrest.Client(DEMO_SDKAPPID, secret_key=canary, base_url=emu.base_url)
    text = repr(client)
    assert canary not in text and "secret_key" in text  # it says how it authenticates, not with what
    assert emu.base_url in text
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_no_secret_in_any_message_repr_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    canary_key = "canary-secret-key-2b9d4f0e"
    caplog.set_level(logging.DEBUG, logger="timrest")
    with Emulator(secret_key=canary_key, rate_limit=None) as emu:
        usersig = timrest.gen_usersig(DEMO_SDKAPPID, canary_key, "administrator")
        key_client = emu.client(rate_limit=None, max_retries=1, deadline=60.0)
        sig_client = emu.client(usersig=usersig, rate_limit=None, max_retries=0)
        wrong_client = emu.client(secret_key=canary_key + "-wrong", rate_limit=None)
        gid = emu.create_group("Public", members=("leckie",))
        emu.send_group_msg(gid, "leckie", "spam")

        shown: list[str] = [repr(key_client), repr(sig_client), repr(wrong_client), repr(emu)]
        key_client.delete_group_msg_by_sender(gid, "leckie")
        sig_client.delete_group_msg_by_sender(gid, "leckie")
        emu.inject(DELETE, times=2, http_status=502)
        emu.inject(DELETE, error_code=70001)
        emu.inject(DELETE, body=b"not json")
        attempts: list[Any] = [
            lambda: key_client.delete_group_msg_by_sender(gid, "leckie"),
            lambda: key_client.delete_group_msg_by_sender(gid, "leckie"),
            lambda: sig_client.delete_group_msg_by_sender(gid, "leckie"),
            lambda: wrong_client.delete_group_msg_by_sender(gid, "leckie"),
            lambda: sig_client.delete_group_msg_by_sender("@TGS#MISSING", "leckie"),
            lambda: timrest.verify_usersig(usersig, DEMO_SDKAPPID, "other", "administrator"),
            lambda: timrest.Client(DEMO_SDKAPPID, secret_key=canary_key, usersig=usersig),
            lambda: timrest.Client(DEMO_SDKAPPID, usersig=usersig, identifier="someone"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except timrest.TimError as e:
                shown += [str(e), repr(e), e.info, repr(e.__dict__), repr(pickle.dumps(e))]
        shown.append(repr(emu.requests()))

    records = [r for r in caplog.records if r.name == "timrest"]
    assert len(records) >= 8, "expected one debug line per attempt"
    assert all(r.levelno >= logging.DEBUG for r in records)
    shown += [r.getMessage() for r in caplog.records]
    for text in shown:
        assert canary_key not in text
        assert usersig not in text
        assert usersig[:40] not in text


def test_log_lines_name_command_random_and_outcome(emu: Emulator, client: timrest.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="timrest")
    with pytest.raises(timrest.GroupNotFoundError) as error:
        client.delete_group_msg_by_sender("@TGS#MISSING", "leckie")
    lines = [r.getMessage() for r in caplog.records if r.name == "timrest"]
    assert any(DELETE in line and str(error.value.random) in line and "10010" in line for line in lines), lines
