"""Settings from the environment (dutywatch.config) and the manual clock (dutywatch.clock).

No servers and no real sleeping: ManualClock sleepers are tasks whose ``done()`` is checked
after letting the loop spin a few times.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch.clock import ManualClock, SystemClock, utc
from dutywatch.config import DEFAULT_ACK_TIMEOUTS, Settings, from_env
from dutywatch.contracts import Grade
from dutywatch.errors import ConfigurationError

DB = "postgresql://dutywatch@db/dutywatch"
NATS = "nats://127.0.0.1:4222"
BASE = {"DUTYWATCH_DATABASE_URL": DB, "DUTYWATCH_NATS_URL": NATS}
T0 = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)

# ---------------------------------------------------------------------------- from_env


def test_from_env_minimal() -> None:
    settings = from_env(BASE)
    assert settings.database_url == DB
    assert settings.nats_url == NATS
    assert settings.subject_prefix == "dutywatch"
    assert settings.stream_prefix == ""
    assert settings.ack_timeouts == DEFAULT_ACK_TIMEOUTS


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "DUTYWATCH_DATABASE_URL"),
        ({"DUTYWATCH_NATS_URL": NATS}, "DUTYWATCH_DATABASE_URL"),
        ({"DUTYWATCH_DATABASE_URL": "", "DUTYWATCH_NATS_URL": NATS}, "DUTYWATCH_DATABASE_URL"),
        ({"DUTYWATCH_DATABASE_URL": DB}, "DUTYWATCH_NATS_URL"),
        ({"DUTYWATCH_DATABASE_URL": DB, "DUTYWATCH_NATS_URL": ""}, "DUTYWATCH_NATS_URL"),
    ],
)
def test_missing_urls_are_configuration_errors(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{variable} is not set") as caught:
        from_env(env)
    message = str(caught.value)
    assert "e.g." in message  # shows an example value
    assert "dutywatch up" in message  # and the way to get a local stack
    assert caught.value.code == "configuration"


def test_explicit_urls_win_over_the_environment() -> None:
    settings = from_env(BASE, database_url="postgresql://other/db", nats_url="nats://other:1")
    assert settings.database_url == "postgresql://other/db"
    assert settings.nats_url == "nats://other:1"
    assert from_env({}, database_url=DB, nats_url=NATS).database_url == DB


def test_overrides_win() -> None:
    settings = from_env({**BASE, "DUTYWATCH_STREAM_PREFIX": "A_"}, stream_prefix="B_")
    assert settings.stream_prefix == "B_"


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUTYWATCH_DATABASE_URL", DB)
    monkeypatch.setenv("DUTYWATCH_NATS_URL", NATS)
    monkeypatch.setenv("DUTYWATCH_ADMIN_TOKEN", "secret-token")
    settings = from_env()
    assert settings.database_url == DB
    assert settings.admin_token == "secret-token"


def test_optional_variables() -> None:
    settings = from_env(
        {
            **BASE,
            "DUTYWATCH_HTTP": "0.0.0.0:9000",
            "DUTYWATCH_ADMIN_TOKEN": "tok",
            "DUTYWATCH_SUBJECT_PREFIX": "t0a1b2",
            "DUTYWATCH_STREAM_PREFIX": "T0A1B2_",
            "DUTYWATCH_STREAM_REPLICAS": "3",
            "DUTYWATCH_INTAKE_ACK_WAIT": "2.5",
            "DUTYWATCH_NATS_PING_INTERVAL": "4",
        }
    )
    assert settings.nats_ping_interval == 4
    assert from_env(BASE).intake_ack_wait == 30
    assert settings.intake_ack_wait == 2.5
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 9000)
    assert settings.admin_token == "tok"
    assert settings.subject_prefix == "t0a1b2"
    assert settings.stream_prefix == "T0A1B2_"
    assert settings.stream_replicas == 3


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [(":8081", "127.0.0.1", 8081), ("[::1]:80", "[::1]", 80), ("localhost:1", "localhost", 1)],
)
def test_http_host_port(value: str, host: str, port: int) -> None:
    settings = from_env({**BASE, "DUTYWATCH_HTTP": value})
    assert (settings.http_host, settings.http_port) == (host, port)


@pytest.mark.parametrize("value", ["8080", "localhost", "host:", "host:http", "host:-1"])
def test_bad_http_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="expected HOST:PORT"):
        from_env({**BASE, "DUTYWATCH_HTTP": value})


@pytest.mark.parametrize("prefix", ["Dutywatch", "a.b", "1abc", "", "a b", "dutywatch>"])
def test_bad_subject_prefix_is_a_configuration_error(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="subject prefix"):
        from_env({**BASE, "DUTYWATCH_SUBJECT_PREFIX": prefix})
    with pytest.raises(ConfigurationError, match="one lowercase subject token"):
        Settings(database_url=DB, nats_url=NATS, subject_prefix=prefix)


# ---------------------------------------------------------------- DUTYWATCH_ACK_TIMEOUTS


def ack(value: str) -> dict[Grade, timedelta]:
    return dict(from_env({**BASE, "DUTYWATCH_ACK_TIMEOUTS": value}).ack_timeouts)


@pytest.mark.parametrize(
    ("value", "changed"),
    [
        ("", {}),
        ("I=60", {Grade.I: timedelta(seconds=60)}),
        ("I=60,IV=1800", {Grade.I: timedelta(seconds=60), Grade.IV: timedelta(minutes=30)}),
        (
            " II = 120 , III=240 ,",
            {Grade.II: timedelta(minutes=2), Grade.III: timedelta(minutes=4)},
        ),
        ("IV=0.5", {Grade.IV: timedelta(milliseconds=500)}),
        ("III=0", {Grade.III: timedelta(0)}),
        ("I=10,I=20", {Grade.I: timedelta(seconds=20)}),  # the last one wins
    ],
)
def test_ack_timeouts_valid(value: str, changed: dict[Grade, timedelta]) -> None:
    assert ack(value) == {**DEFAULT_ACK_TIMEOUTS, **changed}


@pytest.mark.parametrize(
    "value",
    ["V=10", "i=10", "I", "I=", "=10", "I=abc", "I=10s", "I=1=2", "I:10", "I=nan", "I=10;II=5"],
)
def test_ack_timeouts_invalid(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_ACK_TIMEOUTS item") as caught:
        ack(value)
    assert "GRADE=SECONDS" in str(caught.value) or "has no '='" in str(caught.value)


@given(
    st.dictionaries(st.sampled_from(Grade), st.integers(min_value=0, max_value=7 * 86_400)),
    st.sampled_from([",", ", ", " , "]),
)
def test_ack_timeouts_round_trip(timeouts: dict[Grade, int], separator: str) -> None:
    value = separator.join(f"{grade}={seconds}" for grade, seconds in timeouts.items())
    expected = {**DEFAULT_ACK_TIMEOUTS, **{g: timedelta(seconds=s) for g, s in timeouts.items()}}
    assert ack(value) == expected


def test_default_ack_timeouts_are_not_shared() -> None:
    a = from_env(BASE)
    a.ack_timeouts[Grade.I] = timedelta(seconds=1)  # type: ignore[index]
    assert DEFAULT_ACK_TIMEOUTS[Grade.I] == timedelta(minutes=5)
    assert from_env(BASE).ack_timeouts[Grade.I] == timedelta(minutes=5)


@pytest.mark.parametrize("value", ["I=inf", "II=1e20", "III=-inf"])
def test_ack_timeouts_overflow_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_ACK_TIMEOUTS"):
        ack(value)


@pytest.mark.parametrize("value", ["I=-5", "IV=-0.001"])
def test_negative_ack_timeout_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_ACK_TIMEOUTS"):
        ack(value)


def test_bad_stream_replicas_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_STREAM_REPLICAS"):
        from_env({**BASE, "DUTYWATCH_STREAM_REPLICAS": "three"})


@pytest.mark.parametrize("value", ["0", "-3", "soon", ""])
def test_bad_intake_ack_wait_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_INTAKE_ACK_WAIT must be a number > 0"):
        from_env({**BASE, "DUTYWATCH_INTAKE_ACK_WAIT": value})


def test_out_of_range_port_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="HOST:PORT"):
        from_env({**BASE, "DUTYWATCH_HTTP": "127.0.0.1:99999"})


# ------------------------------------------------------------------- subject() and stream()


@pytest.mark.parametrize(
    ("prefix", "tokens", "subject"),
    [
        ("dutywatch", ("report", "harbin.daoli"), "dutywatch.report.harbin.daoli"),
        ("dutywatch", ("notify", "p-001"), "dutywatch.notify.p-001"),
        ("dutywatch", ("cmd", "ack"), "dutywatch.cmd.ack"),
        ("dutywatch", ("rejected",), "dutywatch.rejected"),
        ("dutywatch", (), "dutywatch"),
        ("t0a1b2c3d4e", ("event", "harbin", "opened"), "t0a1b2c3d4e.event.harbin.opened"),
    ],
)
def test_subject(prefix: str, tokens: tuple[str, ...], subject: str) -> None:
    settings = Settings(database_url=DB, nats_url=NATS, subject_prefix=prefix)
    assert settings.subject(*tokens) == subject


@pytest.mark.parametrize(
    ("prefix", "name", "stream"),
    [("", "REPORTS", "REPORTS"), ("T0A1_", "REPORTS", "T0A1_REPORTS"), ("X", "NOTIFY", "XNOTIFY")],
)
def test_stream(prefix: str, name: str, stream: str) -> None:
    settings = Settings(database_url=DB, nats_url=NATS, stream_prefix=prefix)
    assert settings.stream(name) == stream


def test_with_returns_a_changed_copy() -> None:
    settings = from_env(BASE)
    changed = settings.with_(stream_prefix="Z_", run_relay=False)
    assert changed.stream("EVENTS") == "Z_EVENTS"
    assert not changed.run_relay
    assert settings.stream_prefix == ""
    assert settings.run_relay
    with pytest.raises(ConfigurationError):
        settings.with_(subject_prefix="Not.Valid")


# -------------------------------------------------------------------------------- clock


async def spin(times: int = 20) -> None:
    """Let every ready task run a few rounds (no real time passes)."""
    for _ in range(times):
        await asyncio.sleep(0)


def test_manual_clock_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2025, 1, 1))


async def test_manual_clock_now_and_advance() -> None:
    clock = ManualClock(T0)
    assert clock.now() == T0
    await clock.advance(timedelta(minutes=5))
    await clock.advance(timedelta(microseconds=1))
    assert clock.now() == T0 + timedelta(minutes=5, microseconds=1)


async def test_sleep_until_returns_when_advanced_past_the_time() -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=10), wake))
    await spin()
    assert not sleeper.done()
    await clock.advance(timedelta(minutes=9, seconds=59))
    await spin()
    assert not sleeper.done(), "woke before its time"
    await clock.advance(timedelta(seconds=2))
    await spin()
    assert sleeper.done()
    assert sleeper.result() is None


async def test_sleep_until_returns_when_advanced_exactly_to_the_time() -> None:
    clock = ManualClock(T0)
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(seconds=1), asyncio.Event()))
    await spin()
    await clock.advance(timedelta(seconds=1) - timedelta(microseconds=1))
    await spin()
    assert not sleeper.done()
    await clock.advance(timedelta(microseconds=1))
    await spin()
    assert sleeper.done()


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(seconds=1), -timedelta(days=1)])
async def test_sleep_until_a_past_time_returns_at_once(offset: timedelta) -> None:
    clock = ManualClock(T0)
    await asyncio.wait_for(clock.sleep_until(T0 + offset, asyncio.Event()), timeout=0.5)


async def test_sleep_until_returns_at_once_when_wake_is_already_set() -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    wake.set()
    await asyncio.wait_for(clock.sleep_until(T0 + timedelta(days=1), wake), timeout=0.5)
    assert clock.now() == T0


async def test_sleep_until_returns_when_wake_is_set() -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(hours=1), wake))
    await spin()
    assert not sleeper.done()
    wake.set()
    await spin()
    assert sleeper.done()
    assert sleeper.result() is None
    assert clock.now() == T0
    # The clock still works afterwards: the woken sleeper gave the lock back.
    await asyncio.wait_for(clock.advance(timedelta(seconds=1)), timeout=0.5)
    again = asyncio.create_task(clock.sleep_until(T0 + timedelta(seconds=2), asyncio.Event()))
    await spin()
    assert not again.done()
    await asyncio.wait_for(clock.advance(timedelta(seconds=1)), timeout=0.5)
    await spin()
    assert again.done()


async def test_many_sleepers_wake_in_due_order() -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    offsets = [5, 1, 3, 3, 10]
    sleepers = [
        asyncio.create_task(clock.sleep_until(T0 + timedelta(seconds=s), wake)) for s in offsets
    ]
    await spin()
    for elapsed in range(1, 12):
        await clock.advance(timedelta(seconds=1))
        await spin()
        assert [task.done() for task in sleepers] == [s <= elapsed for s in offsets]


async def test_wake_wakes_every_sleeper_sharing_the_event() -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    sleepers = [
        asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=m), wake)) for m in (1, 2)
    ]
    other = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=1), asyncio.Event()))
    await spin()
    wake.set()
    await spin()
    assert all(task.done() for task in sleepers)
    assert not other.done()
    await clock.advance(timedelta(minutes=1))
    await spin()
    assert other.done()


@given(
    whens=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5),
    steps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6),
)
async def test_sleepers_are_done_exactly_when_the_clock_reached_them(
    whens: list[int], steps: list[int]
) -> None:
    clock = ManualClock(T0)
    wake = asyncio.Event()
    sleepers = [
        asyncio.create_task(clock.sleep_until(T0 + timedelta(seconds=w), wake)) for w in whens
    ]
    try:
        await spin()
        elapsed = 0
        assert [t.done() for t in sleepers] == [w <= elapsed for w in whens]
        for step in steps:
            elapsed += step
            await clock.advance(timedelta(seconds=step))
            await spin()
            assert [t.done() for t in sleepers] == [w <= elapsed for w in whens]
    finally:
        wake.set()  # release the rest the supported way, so no task is left behind
        await asyncio.wait_for(asyncio.gather(*sleepers), timeout=1)


async def test_cancelled_sleeper_raises_cancelled_error() -> None:
    clock = ManualClock(T0)
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(hours=1), asyncio.Event()))
    await spin()
    sleeper.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await sleeper
    finally:
        await _release_orphans(clock)


async def test_clock_still_advances_after_a_sleeper_was_cancelled() -> None:
    clock = ManualClock(T0)
    sleeper = asyncio.create_task(clock.sleep_until(T0 + timedelta(hours=1), asyncio.Event()))
    await spin()
    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)
    try:
        await asyncio.wait_for(clock.advance(timedelta(seconds=1)), timeout=0.1)
        await spin()
        await asyncio.wait_for(clock.advance(timedelta(seconds=1)), timeout=0.1)
        assert clock.now() == T0 + timedelta(seconds=2)
    finally:
        await _release_orphans(clock)


async def _release_orphans(clock: ManualClock) -> None:
    """Nothing of a cancelled sleeper may stay behind: no task, no registration."""
    current = asyncio.current_task()
    leftovers = [
        t for t in asyncio.all_tasks() if t is not current and "sleep_until" in repr(t.get_coro())
    ]
    assert leftovers == []
    assert clock._sleepers == set()


async def test_system_clock_basics() -> None:
    clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    await asyncio.wait_for(clock.sleep_until(now - timedelta(seconds=1), asyncio.Event()), 0.5)
    wake = asyncio.Event()
    wake.set()
    await asyncio.wait_for(clock.sleep_until(now + timedelta(hours=1), wake), 0.5)


def test_utc() -> None:
    shanghai = datetime(2025, 1, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert utc(shanghai) == datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    assert utc(shanghai).tzinfo is UTC
    assert utc(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5)))).hour == 5
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("value", "interval", "daily_at"),
    [
        ("daily@08:00", None, "08:00:00"),
        ("every=7200", 7200.0, None),
        ("DAILY@19:30", None, "19:30:00"),
    ],
)
def test_follow_up_rule_from_env(value: str, interval: float | None, daily_at: str | None) -> None:
    settings = from_env({"DUTYWATCH_FOLLOW_UP": value}, database_url=DB, nats_url=NATS)
    assert settings.follow_up is not None
    got = settings.follow_up.interval
    assert (got.total_seconds() if got else None) == interval
    assert (settings.follow_up.daily_at.isoformat() if settings.follow_up.daily_at else None) == (
        daily_at
    )


@pytest.mark.parametrize("value", ["weekly", "daily@25:00", "every=0", "every=x", ""])
def test_bad_follow_up_rule_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DUTYWATCH_FOLLOW_UP"):
        from_env({"DUTYWATCH_FOLLOW_UP": value}, database_url=DB, nats_url=NATS)


def test_follow_up_can_be_turned_off() -> None:
    settings = from_env({"DUTYWATCH_FOLLOW_UP": "off"}, database_url=DB, nats_url=NATS)
    assert settings.follow_up is None


def test_supervision_reminders_from_the_environment() -> None:
    from dutywatch.supervision.rules import DEFAULT_REMINDERS, ReminderRule

    assert from_env({}, database_url=DB, nats_url=NATS).supervision_reminders == DEFAULT_REMINDERS
    settings = from_env(
        {"DUTYWATCH_SUPERVISION_REMINDERS": "before=0,every=3600,leader_after=0"},
        database_url=DB,
        nats_url=NATS,
    )
    assert settings.supervision_reminders == ReminderRule(
        before=timedelta(0), every=timedelta(hours=1), leader_after=0
    )
    partial = from_env(
        {"DUTYWATCH_SUPERVISION_REMINDERS": "every=7200"}, database_url=DB, nats_url=NATS
    )
    assert partial.supervision_reminders.before == DEFAULT_REMINDERS.before
    for bad in ("every=0", "often=5", "before=-1"):
        with pytest.raises(ConfigurationError, match="DUTYWATCH_SUPERVISION_REMINDERS"):
            from_env({"DUTYWATCH_SUPERVISION_REMINDERS": bad}, database_url=DB, nats_url=NATS)
