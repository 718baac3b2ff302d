"""The shipped NATS permissions (deploy/nats/accounts.conf), proven against a real nats-server.

The server runs on loopback with a test-only main file (no TLS, no cluster, a free port, a temp
store dir) that ``include``s deploy/nats/accounts.conf itself: the permissions under test are the
bytes that ship. Passwords are the ``$NATS_PASS_*`` environment variables the file references,
set to random values for this run.

nats-py reports a permissions violation asynchronously through ``error_cb`` (the server answers
``-ERR 'Permissions Violation ...'`` and keeps the connection); a denied publish is dropped, so a
JetStream publish on it gets no ack and times out. Each client collects its errors in a list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StreamInfo

from dutywatch import bus
from dutywatch.config import Settings
from dutywatch.embedded import free_port, nats_server_binary, spawn_nats_server

REPO = Path(__file__).resolve().parents[2]
ACCOUNTS = REPO / "deploy" / "nats" / "accounts.conf"
PASSWORD_VAR = re.compile(r"\$(NATS_PASS_[A-Z0-9_]+)")

SERVICE = "dutywatch"
DAOLI = "harbin.daoli"
XINYANG = "harbin.daoli.xinyang"
ZHAOLIN = "harbin.daoli.zhaolin"
NANGANG = "harbin.nangang"
MONITOR = "monitor"
LI_NA = "person.li-na"
ZHANG_WEI = "person.zhang-wei"


def accounts_text() -> str:
    """accounts.conf without its comments (they show examples of variables too)."""
    text = ACCOUNTS.read_text(encoding="utf-8")
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def password_vars() -> list[str]:
    return sorted(set(PASSWORD_VAR.findall(accounts_text())))


def nats_password() -> str:
    """Letter first, then hex: nats-server reads a variable's value as a config token, so a
    value like ``2026-01-01x`` or ``123`` or ``a;b`` is mangled or refused (see below)."""
    return "pw" + secrets.token_hex(16)


def env_var_of(user: str) -> str:
    """``harbin.daoli.xinyang`` -> ``NATS_PASS_HARBIN_DAOLI_XINYANG`` (the file's convention)."""
    if user == SERVICE:
        return "NATS_PASS_SERVICE"
    return "NATS_PASS_" + re.sub(r"[.-]", "_", user).upper()


def inbox_prefix(user: str) -> str | None:
    """Every user but the service has a private inbox ``_INBOX.<user>.PRIVATE``."""
    return None if user == SERVICE else f"_INBOX.{user}.PRIVATE"


def loopback_config(directory: Path, port: int) -> Path:
    """A test-only main file that includes the shipped accounts.conf unchanged.

    nats-server resolves ``include`` relative to the including file and refuses absolute
    paths, hence the relative path from the temp dir to the repository.
    """
    include = os.path.relpath(ACCOUNTS, directory)
    path = directory / "loopback.conf"
    path.write_text(
        "\n".join(
            [
                "# test-only: no TLS, no cluster; permissions from deploy/nats/accounts.conf",
                f'listen: "127.0.0.1:{port}"',
                "jetstream {",
                f'  store_dir: "{directory / "jetstream"}"',
                "  sync_interval: always",
                "}",
                f'include "{include}"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


async def run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


# ------------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    passwords: dict[str, str]
    config: Path
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    directory = tmp_path_factory.mktemp("nats-perms")
    port = free_port()
    config = loopback_config(directory, port)
    passwords = {var: nats_password() for var in password_vars()}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **passwords}
    log = directory / "nats-server.log"
    proc = await spawn_nats_server(config, log, env=env)
    srv = Server(f"nats://127.0.0.1:{port}", passwords, config, env, log)
    try:
        await wait_ready(srv, proc)
        yield srv
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def wait_ready(srv: Server, proc: asyncio.subprocess.Process) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        if proc.returncode is not None:
            pytest.fail(
                f"nats-server exited with {proc.returncode} on {srv.config}:\n"
                f"{srv.log.read_text(errors='replace')}",
                pytrace=False,
            )
        try:
            client = await connect(srv, SERVICE)
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.1)
            continue
        try:
            await client.nc.jetstream().account_info()
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.1)
        finally:
            await client.close()
    pytest.fail(
        f"nats-server on {srv.url} not ready within 20 s (last error {last!r}):\n"
        f"{srv.log.read_text(errors='replace')}",
        pytrace=False,
    )


# ------------------------------------------------------------------------------- the clients


@dataclass
class Client:
    user: str
    nc: NatsClient
    errors: list[Exception] = field(default_factory=list)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.close()

    def violations(self) -> list[str]:
        return [str(e) for e in self.errors if "permissions violation" in str(e).lower()]

    async def expect_violation(self, operation: str, subject: str, timeout: float = 3.0) -> None:
        """Wait for the server's ``Permissions Violation for <operation> to "<subject>"``."""
        wanted = f'permissions violation for {operation.lower()} to "{subject.lower()}"'
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if any(wanted in v.lower() for v in self.violations()):
                return
            await asyncio.sleep(0.02)
        pytest.fail(
            f"{self.user}: expected a permissions violation for {operation} to {subject!r}; "
            f"errors received: {[str(e) for e in self.errors]}",
            pytrace=False,
        )

    async def expect_no_violation(self, settle: float = 0.3) -> None:
        await self.nc.flush(timeout=5)
        await asyncio.sleep(settle)
        assert self.violations() == [], f"{self.user} was refused: {self.violations()}"


async def connect(srv: Server, user: str, *, password: str | None = None) -> Client:
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    options: dict[str, object] = {}
    prefix = inbox_prefix(user)
    if prefix is not None:
        options["inbox_prefix"] = prefix
    nc = NatsClient()
    connecting = asyncio.wait_for(
        nc.connect(
            srv.url,
            user=user,
            password=password if password is not None else srv.passwords[env_var_of(user)],
            name=f"test-{user}",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            connect_timeout=5,
            error_cb=on_error,
            **options,
        ),
        15,
    )
    try:
        await connecting
    except BaseException:
        # nats-py leaves the socket of a refused connection open; close it here.
        transport = getattr(nc, "_transport", None)
        if transport is not None:
            transport.close()
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    return Client(user, nc, errors)


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
    opened: list[Client] = []

    async def open_client(user: str) -> Client:
        client = await connect(server, user)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


SETTINGS = Settings(database_url="postgresql://unused/unused", nats_url="nats://unused")


@pytest.fixture
async def streams(clients: Callable[[str], Awaitable[Client]]) -> Client:
    """The five dutywatch streams and the ``intake`` and ``cap-intake`` consumers, created by
    the service user with the service's own code (``bus.ensure_streams``)."""
    service = await clients(SERVICE)
    await bus.ensure_streams(service.nc.jetstream(), SETTINGS)
    await service.expect_no_violation(settle=0)
    return service


async def stored_subjects(service: Client, stream: str = "REPORTS") -> dict[str, int]:
    """Subject -> message count in ``stream`` (JetStream's subjects_filter report)."""
    reply = await service.nc.request(
        f"$JS.API.STREAM.INFO.{stream}", json.dumps({"subjects_filter": ">"}).encode(), timeout=5
    )
    info = StreamInfo.from_response(json.loads(reply.data))
    return dict(info.state.subjects or {})


def report_headers() -> dict[str, str]:
    return {"Nats-Msg-Id": str(uuid.uuid4())}


# ------------------------------------------------------------------------------ config files


async def test_loopback_config_is_valid_and_every_password_is_required(server: Server) -> None:
    code, out = await run([str(nats_server_binary()), "-t", "-c", str(server.config)], server.env)
    assert code == 0, out
    assert "is valid" in out

    for missing in password_vars():
        env = {k: v for k, v in server.env.items() if k != missing}
        code, out = await run([str(nats_server_binary()), "-t", "-c", str(server.config)], env)
        assert code != 0, f"config accepted without {missing}: {out}"
        assert missing in out, out


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("pw0123456789abcdef", True),  # the documented form: a letter, then letters and digits
        ("$2a$11$abcdefghijklmnopqrstuuFU0Jh1M3RkBGTiGPbR9a2bPW9GHj6C", True),  # bcrypt, $2a$
        ("$2b$11$abcdefghijklmnopqrstuuFU0Jh1M3RkBGTiGPbR9a2bPW9GHj6C", False),  # read as $VAR
        ("123456", False),  # an integer, not a string
        ("true", False),  # a boolean
        ("2026-01-01x", False),  # a broken date
        ("pw;x", False),
    ],
)
async def test_password_variables_are_read_as_config_tokens(
    server: Server, value: str, accepted: bool
) -> None:
    """Why deploy/nats/README.md restricts the form of the NATS_PASS_* values."""
    env = {**server.env, "NATS_PASS_HARBIN_DAOLI": value}
    code, out = await run([str(nats_server_binary()), "-t", "-c", str(server.config)], env)
    assert (code == 0) is accepted, out


def test_every_user_has_explicit_permissions_and_no_literal_password() -> None:
    body = accounts_text()
    users = re.findall(r"\{\s*user:\s*\"([^\"]+)\",\s*password:\s*(\S+?)[,\s}]", body)
    names = {name for name, _ in users}
    assert {SERVICE, DAOLI, XINYANG, ZHAOLIN, NANGANG, MONITOR, LI_NA, ZHANG_WEI, "admin"} <= names
    for name, password in users:
        assert password.startswith("$NATS_PASS_"), f"user {name} has a literal password"
    application_users = re.findall(r"\{\s*user:\s*\"([^\"]+)\"[^}]*?permissions:", body, re.S)
    assert set(application_users) == names - {"admin"}, "a DUTYWATCH user lacks permissions"
    assert "default_permissions" in body


# ------------------------------------------------------------------------------ offices


async def test_office_publishes_its_own_reports_and_gets_jetstream_acks(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    xinyang = await clients(XINYANG)
    js = xinyang.nc.jetstream()
    own = f"dutywatch.report.{XINYANG}"
    ack = await js.publish(own, b'{"test": 1}', headers=report_headers(), timeout=5)
    assert ack.stream == "REPORTS"
    ack = await js.publish(f"{own}.sub-unit", b'{"test": 2}', headers=report_headers(), timeout=5)
    assert ack.stream == "REPORTS"
    # CAP 1.2 on its own subject, stored in the CAP stream (the office's receipt is its ack).
    ack = await js.publish(f"dutywatch.cap.{XINYANG}", b"<alert/>", timeout=5)
    assert ack.stream == "CAP"
    await xinyang.expect_no_violation()

    # A district reports for its whole subtree: a township below it included.
    daoli = await clients(DAOLI)
    ack = await daoli.nc.jetstream().publish(own, b'{"test": 3}', headers=report_headers())
    assert ack.stream == "REPORTS"
    await daoli.expect_no_violation()

    stored = await stored_subjects(streams)
    assert stored.get(own, 0) >= 2
    assert stored.get(f"{own}.sub-unit", 0) >= 1


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        (XINYANG, "dutywatch.report.harbin.daoli"),  # its parent
        (XINYANG, "dutywatch.report.harbin.daoli.zhaolin"),  # a sibling
        (XINYANG, "dutywatch.report.harbin.nangang"),  # another district
        (XINYANG, "dutywatch.report.harbin"),  # the city
        (XINYANG, "dutywatch.report.harbin.daoli.xinyangx"),  # same prefix, other token
        (XINYANG, "dutywatch.cap.harbin.daoli"),  # CAP for its parent
        (DAOLI, "dutywatch.report.harbin.nangang.huayuan"),  # another district's township
        (NANGANG, "dutywatch.report.harbin.daoli.xinyang"),
        (LI_NA, "dutywatch.report.harbin.daoli"),  # a person is no office
    ],
)
async def test_office_cannot_publish_for_another_organisation(
    clients: Callable[[str], Awaitable[Client]], streams: Client, user: str, subject: str
) -> None:
    office = await clients(user)
    before = (await stored_subjects(streams)).get(subject, 0)

    # The JetStream publish is dropped by the server: no ack ever comes.
    with pytest.raises(nats.errors.TimeoutError):
        await office.nc.jetstream().publish(
            subject, b'{"forged": true}', headers=report_headers(), timeout=0.25
        )
    await office.expect_violation("Publish", subject)
    # ... and a plain publish too.
    office.errors.clear()
    await office.nc.publish(subject, b'{"forged": true}')
    await office.expect_violation("Publish", subject)

    assert (await stored_subjects(streams)).get(subject, 0) == before
    assert office.nc.is_connected  # refused, not disconnected: its own reports still go


@pytest.mark.parametrize("user", [DAOLI, XINYANG, NANGANG])
@pytest.mark.parametrize(
    "subject",
    [
        "dutywatch.notify.>",  # everybody's pages
        "dutywatch.notify.li-na",  # one person's pages
        "dutywatch.report.>",  # other offices' reports
        "dutywatch.event.>",
        "dutywatch.>",
        "_INBOX.>",  # the service's pull deliveries (all reports) and command replies
        "$JS.API.>",
    ],
)
async def test_office_cannot_subscribe_to_pages_reports_or_other_inboxes(
    clients: Callable[[str], Awaitable[Client]], user: str, subject: str
) -> None:
    office = await clients(user)
    await office.nc.subscribe(subject)
    await office.expect_violation("Subscription", subject)


async def test_office_does_not_receive_pages_or_a_parents_replies(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    # The township cannot read its district's private inbox (its prefix is longer, not shorter).
    xinyang = await clients(XINYANG)
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    for subject in ("dutywatch.notify.li-na", f"_INBOX.{DAOLI}.PRIVATE.>"):
        await xinyang.nc.subscribe(subject, cb=keep)
        await xinyang.expect_violation("Subscription", subject)

    page = await streams.nc.jetstream().publish(
        "dutywatch.notify.li-na", b'{"page": 1}', headers={"Nats-Msg-Id": uuid.uuid4().hex}
    )
    assert page.stream == "NOTIFY"
    await streams.nc.publish(f"_INBOX.{DAOLI}.PRIVATE.x.y", b"reply for daoli")
    await streams.nc.flush()
    await asyncio.sleep(0.3)
    assert received == []


async def test_office_cannot_send_commands_or_use_the_jetstream_api(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    commands: list[Msg] = []

    async def responder(msg: Msg) -> None:
        commands.append(msg)
        await msg.respond(b'{"ok": true}')

    await streams.nc.subscribe("dutywatch.cmd.ack", "dutywatch-commands", cb=responder)
    await streams.nc.flush()

    daoli = await clients(DAOLI)
    with pytest.raises(nats.errors.TimeoutError):
        await daoli.nc.request("dutywatch.cmd.ack", b'{"incident_id": 1}', timeout=0.25)
    await daoli.expect_violation("Publish", "dutywatch.cmd.ack")
    await daoli.nc.publish("dutywatch.cmd.resolve", b"{}")
    await daoli.expect_violation("Publish", "dutywatch.cmd.resolve")
    assert commands == []

    # No JetStream API: it cannot delete or purge the stream that holds everyone's reports.
    with pytest.raises(nats.errors.TimeoutError):
        await daoli.nc.jetstream(timeout=0.25).delete_stream("REPORTS")
    await daoli.expect_violation("Publish", "$JS.API.STREAM.DELETE.REPORTS")
    # Nor publish pages, events or rejections as if it were dutywatch.
    for subject in ("dutywatch.notify.li-na", "dutywatch.event.harbin.daoli.resolved"):
        await daoli.nc.publish(subject, b"{}")
        await daoli.expect_violation("Publish", subject)
    await streams.nc.jetstream().stream_info("REPORTS")  # still there


# ------------------------------------------------------------------------------ people


async def test_person_reads_own_pages_and_acknowledges(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    async def responder(msg: Msg) -> None:
        await msg.respond(b'{"ok": true, "echo": ' + msg.data + b"}")

    await streams.nc.subscribe("dutywatch.cmd.ack", "dutywatch-commands", cb=responder)
    await streams.nc.flush()

    li_na = await clients(LI_NA)
    pages = await li_na.nc.subscribe("dutywatch.notify.li-na")
    await li_na.nc.flush()
    await streams.nc.jetstream().publish(
        "dutywatch.notify.li-na", b'{"page": 2}', headers={"Nats-Msg-Id": uuid.uuid4().hex}
    )
    msg = await pages.next_msg(timeout=5)
    assert msg.data == b'{"page": 2}'

    reply = await li_na.nc.request("dutywatch.cmd.ack", b'{"incident_id": 7}', timeout=5)
    assert reply.subject.startswith("_INBOX.person.li-na.PRIVATE.")
    assert json.loads(reply.data) == {"ok": True, "echo": {"incident_id": 7}}
    await li_na.expect_no_violation()


@pytest.mark.parametrize(
    ("operation", "subject"),
    [
        ("Subscription", "dutywatch.notify.zhang-wei"),  # another person's pages
        ("Subscription", "dutywatch.notify.>"),
        ("Subscription", "_INBOX.>"),
        ("Subscription", "_INBOX.person.zhang-wei.PRIVATE.>"),
        ("Subscription", "dutywatch.cmd.ack"),  # cannot impersonate the service
        ("Publish", "dutywatch.cmd.handover"),
        ("Publish", "dutywatch.notify.zhang-wei"),
        ("Publish", "$JS.API.STREAM.NAMES"),
    ],
)
async def test_person_is_confined_to_own_pages_and_ack(
    clients: Callable[[str], Awaitable[Client]], operation: str, subject: str
) -> None:
    li_na = await clients(LI_NA)
    if operation == "Subscription":
        await li_na.nc.subscribe(subject)
    else:
        await li_na.nc.publish(subject, b"{}")
    await li_na.expect_violation(operation, subject)


# ------------------------------------------------------------------------------ monitoring


async def test_monitor_reads_jetstream_state_but_no_message(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    monitor = await clients(MONITOR)
    js = monitor.nc.jetstream(timeout=2)
    info = await js.consumer_info("REPORTS", bus.INTAKE_CONSUMER)  # intake lag
    assert info.num_pending is not None
    assert (await js.stream_info("REPORTS")).config.name == "REPORTS"
    await monitor.expect_no_violation()

    await streams.nc.jetstream().publish(
        f"dutywatch.report.{DAOLI}", b'{"secret": 1}', headers=report_headers()
    )
    quick = monitor.nc.jetstream(timeout=0.25)
    with pytest.raises(nats.errors.TimeoutError):
        await quick.get_msg("REPORTS", 1)  # a report's content
    await monitor.expect_violation("Publish", "$JS.API.STREAM.MSG.GET.REPORTS")
    with pytest.raises(nats.errors.TimeoutError):
        await quick.delete_consumer("REPORTS", bus.INTAKE_CONSUMER)
    await monitor.expect_violation(
        "Publish", f"$JS.API.CONSUMER.DELETE.REPORTS.{bus.INTAKE_CONSUMER}"
    )
    for subject in ("dutywatch.>", "_INBOX.>"):
        await monitor.nc.subscribe(subject)
        await monitor.expect_violation("Subscription", subject)


# ------------------------------------------------------------------------------ the service


async def test_service_user_does_everything_dutywatch_needs(
    clients: Callable[[str], Awaitable[Client]], streams: Client
) -> None:
    service = streams
    js = service.nc.jetstream()
    assert await bus.streams_present(js, SETTINGS) == []

    # Pages, events and rejections through JetStream (the outbox relay).
    for subject, stream in [
        ("dutywatch.notify.zhang-wei", "NOTIFY"),
        ("dutywatch.event.harbin.daoli.opened", "EVENTS"),
        ("dutywatch.rejected", "REJECTED"),
    ]:
        ack = await bus.publish_idempotent(js, subject, b"{}", msg_id=uuid.uuid4().hex)
        assert ack.stream == stream

    # HTTP reports are published by the service for any organisation.
    subject = f"dutywatch.report.{NANGANG}"
    await bus.publish_idempotent(js, subject, b'{"via": "http"}', msg_id=str(uuid.uuid4()))

    # Intake: pull from the durable consumer and acknowledge ($JS.API + _INBOX + $JS.ACK).
    sub = await js.pull_subscribe_bind(bus.INTAKE_CONSUMER, stream="REPORTS")
    seen: list[str] = []
    while True:
        try:
            batch = await sub.fetch(256, timeout=1)
        except nats.errors.TimeoutError:
            break
        for msg in batch:
            seen.append(msg.subject)
            await msg.ack_sync(timeout=5)
    assert subject in seen
    info = await js.consumer_info("REPORTS", bus.INTAKE_CONSUMER)
    assert info.num_ack_pending == 0

    # It answers commands (queue group) and may read every page (channel workers).
    pages = await service.nc.subscribe("dutywatch.notify.>")
    await service.nc.subscribe("dutywatch.cmd.ack", "dutywatch-commands")
    await service.expect_no_violation()
    await pages.unsubscribe()


async def test_wrong_or_unknown_credentials_are_refused(server: Server) -> None:
    for user, password in [(DAOLI, "not-the-password"), ("harbin.unknown", "x")]:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await connect(server, user, password=password)
