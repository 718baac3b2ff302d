"""Every file in deploy/ checked by the tool that reads it, or as near as this machine allows.

- NATS: ``nats-server -t`` on each node file with throwaway certificates from
  deploy/tls/make-dev-certs.sh, then the three nodes started as a real TLS cluster on loopback
  (only paths, ports and route hosts substituted) holding the service's streams with 3 replicas.
- PostgreSQL: roles.sql and grants.sql run with psql on a real server; the restricted service
  role then does the service's real writes (demo load, report intake, acknowledgement) and is
  refused UPDATE/DELETE on the timeline and any DDL.
- systemd: units parsed as INI and checked by ``systemd-analyze verify`` in a scratch root.
- compose and Kubernetes: YAML parsed and cross-checked (no Docker engine or cluster here); the
  manifests are validated against the Kubernetes schemas when ``kubernetes-validate`` is
  installed.
- The example environment files load through ``dutywatch.config.from_env``.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import nats.errors
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.js.errors import NoStreamResponseError

from dutywatch import bus, demo
from dutywatch.config import Settings, from_env
from dutywatch.db import create_pool
from dutywatch.embedded import (
    free_port,
    nats_server_binary,
    postgres_bin_dir,
    spawn_nats_server,
)
from dutywatch.incidents import commands
from dutywatch.timeline import Source, purge
from dutywatch.timeline.store import verify_all
from handlers.reports import Inbound, Verdict, ingest_batch

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NATS_DIR = DEPLOY / "nats"
NODES = ("nats-1", "nats-2", "nats-3")
TLS_DIR = "/etc/dutywatch/tls"
STATE_DIR = "/var/lib/nats"


def uncommented(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def nats_password_vars() -> list[str]:
    text = uncommented((NATS_DIR / "accounts.conf").read_text(encoding="utf-8"))
    return sorted(set(re.findall(r"\$(NATS_PASS_[A-Z0-9_]+)", text)))


def config_env_vars() -> set[str]:
    """Every DUTYWATCH_* variable the service reads (dutywatch/config.py)."""
    text = (REPO / "dutywatch" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r"\"(DUTYWATCH_[A-Z_]+)\"", text))


def read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """(assignments, names mentioned in commented-out assignments) of a KEY=VALUE file."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=.*", stripped):
            commented.add(match.group(1))
        elif stripped and not stripped.startswith("#"):
            key, sep, value = stripped.partition("=")
            assert sep, f"{path}: not KEY=VALUE: {line!r}"
            values[key] = value
    return values, commented


async def run(argv: list[str], *, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


# ===================================================================================== NATS


@pytest.fixture(scope="module")
async def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificates made by the shipped deploy/tls/make-dev-certs.sh."""
    out = tmp_path_factory.mktemp("tls")
    code, log = await run(["bash", str(DEPLOY / "tls" / "make-dev-certs.sh"), str(out)])
    assert code == 0, log
    for name in ("ca.pem", "ca-key.pem", "nats.pem", "nats-key.pem"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "nats-key.pem").stat().st_mode & 0o007 == 0, "node key readable by others"
    return out


def nats_env() -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    # A letter first: nats-server reads the value as a config token (deploy/nats/README.md).
    env.update({var: "pw" + secrets.token_hex(12) for var in nats_password_vars()})
    return env


def substitute(text: str, replacements: list[tuple[str, str, int]]) -> str:
    """Replace each (old, new, expected count); fail if a pattern's count differs."""
    for old, new, count in replacements:
        found = text.count(old)
        assert found == count, f"expected {old!r} {count} times in the shipped config, saw {found}"
        text = text.replace(old, new)
    return text


def test_shipped_nats_config_says_what_the_docs_say() -> None:
    server = uncommented((NATS_DIR / "server.conf").read_text(encoding="utf-8"))
    assert re.search(r"sync_interval:\s*always", server)
    assert f'store_dir: "{STATE_DIR}/jetstream"' in server
    for name in ("cert_file", "key_file", "ca_file"):
        assert len(re.findall(rf'{name}: "{TLS_DIR}/', server)) == 2, name  # clients, routes
    cluster = server[server.index("cluster {") :]
    assert re.search(r"verify:\s*true", cluster), "routes must use mutual TLS"
    assert re.findall(r"nats-route://(nats-\d):6222", server) == list(NODES)
    assert 'include "accounts.conf"' in server
    for node in NODES:
        entry = uncommented((NATS_DIR / f"{node}.conf").read_text(encoding="utf-8"))
        assert re.search(rf'server_name:\s*"{node}"', entry)
        assert 'include "server.conf"' in entry


async def test_each_nats_node_config_passes_nats_server_check(
    tmp_path: Path, dev_certs: Path
) -> None:
    etc = tmp_path / "etc-nats"
    etc.mkdir()
    server = (NATS_DIR / "server.conf").read_text(encoding="utf-8")
    # Only the absolute paths move into the temp dir; the permissions file is copied as is.
    (etc / "server.conf").write_text(
        substitute(
            server,
            [
                (TLS_DIR, str(dev_certs), server.count(TLS_DIR)),
                (STATE_DIR, str(tmp_path / "state"), server.count(STATE_DIR)),
            ],
        ),
        encoding="utf-8",
    )
    shutil.copyfile(NATS_DIR / "accounts.conf", etc / "accounts.conf")
    env = nats_env()
    for node in NODES:
        shutil.copyfile(NATS_DIR / f"{node}.conf", etc / f"{node}.conf")
        code, out = await run(
            [str(nats_server_binary()), "-t", "-c", str(etc / f"{node}.conf")], env=env
        )
        assert code == 0, f"{node}: {out}"
        assert "is valid" in out, out

    # Without its passwords the cluster refuses to start (fails closed).
    code, out = await run(
        [str(nats_server_binary()), "-t", "-c", str(etc / "nats-1.conf")],
        env={"PATH": env["PATH"]},
    )
    assert code != 0
    assert "NATS_PASS_" in out


@dataclass
class Node:
    name: str
    client_port: int
    proc: asyncio.subprocess.Process
    log: Path


async def start_cluster(base: Path, certs: Path, env: dict[str, str]) -> list[Node]:
    ports = {node: (free_port(), free_port(), free_port()) for node in NODES}
    server = (NATS_DIR / "server.conf").read_text(encoding="utf-8")
    nodes = []
    for node in NODES:
        client, http, route = ports[node]
        directory = base / node
        directory.mkdir()
        replacements = [
            ('listen: "0.0.0.0:4222"', f'listen: "127.0.0.1:{client}"', 1),
            ('http: "127.0.0.1:8222"', f'http: "127.0.0.1:{http}"', 1),
            ('listen: "0.0.0.0:6222"', f'listen: "127.0.0.1:{route}"', 1),
            (TLS_DIR, str(certs), server.count(TLS_DIR)),
            (STATE_DIR, str(directory / "state"), server.count(STATE_DIR)),
        ]
        replacements += [
            (f"nats-route://{other}:6222", f"nats-route://127.0.0.1:{ports[other][2]}", 1)
            for other in NODES
        ]
        (directory / "server.conf").write_text(substitute(server, replacements), encoding="utf-8")
        shutil.copyfile(NATS_DIR / "accounts.conf", directory / "accounts.conf")
        shutil.copyfile(NATS_DIR / f"{node}.conf", directory / f"{node}.conf")
        log = directory / "nats-server.log"
        proc = await spawn_nats_server(directory / f"{node}.conf", log, env=env)
        nodes.append(Node(node, client, proc, log))
    for started in nodes:
        await wait_listening(started)
    return nodes


async def wait_listening(node: Node) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        assert node.proc.returncode is None, f"{node.name} exited:\n{node.log.read_text()}"
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", node.client_port), 2
            )
        except (OSError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


async def stop_node(node: Node) -> None:
    if node.proc.returncode is None:
        node.proc.kill()
        await node.proc.wait()


async def connect_tls(
    node: Node, certs: Path, user: str, password: str, *, inbox_prefix: str | None = None
) -> NatsClient:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    async def quiet(_: Exception) -> None:
        return None

    options: dict[str, Any] = {"inbox_prefix": inbox_prefix} if inbox_prefix else {}
    nc = NatsClient()
    try:
        await asyncio.wait_for(
            nc.connect(
                f"tls://127.0.0.1:{node.client_port}",
                user=user,
                password=password,
                tls=context,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                connect_timeout=3,
                error_cb=quiet,
                **options,
            ),
            10,
        )
    except BaseException:
        transport = getattr(nc, "_transport", None)
        if transport is not None:
            transport.close()
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    return nc


async def plain_text_refused(port: int) -> bool:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.startswith(b"INFO "), line
        assert json.loads(line[5:])["tls_required"] is True
        writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(1024), 10)
        except (ConnectionError, TimeoutError):
            return True
        return b"PONG" not in answer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_three_nodes_form_a_tls_cluster_and_keep_r3_streams_through_a_node_loss(
    tmp_path: Path, dev_certs: Path
) -> None:
    env = nats_env()
    nodes = await start_cluster(tmp_path, dev_certs, env)
    service: NatsClient | None = None
    office: NatsClient | None = None
    try:
        # The client port is TLS only: the server announces it, and a client that goes on in
        # plain text gets no PONG (the server waits for a TLS handshake, then drops it).
        assert await plain_text_refused(nodes[0].client_port)

        service = await connect_tls(nodes[0], dev_certs, "dutywatch", env["NATS_PASS_SERVICE"])
        js = service.jetstream()
        settings = Settings(
            database_url="postgresql://unused/unused", nats_url="tls://unused", stream_replicas=3
        )
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # the cluster elects its JetStream meta leader
            try:
                await bus.ensure_streams(js, settings)
                break
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.25)
        info = await js.stream_info("REPORTS")
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        assert len(info.cluster.replicas or []) == 2  # the leader and two followers

        office = await connect_tls(
            nodes[1],
            dev_certs,
            "harbin.daoli",
            env["NATS_PASS_HARBIN_DAOLI"],
            inbox_prefix="_INBOX.harbin.daoli.PRIVATE",
        )
        ack = await office.jetstream().publish(
            "dutywatch.report.harbin.daoli", b"{}", headers={"Nats-Msg-Id": str(uuid.uuid4())}
        )
        assert ack.stream == "REPORTS"

        # Lose a node (one holding a replica that is not the leader, so the test does not wait
        # for an election): the other two are a quorum and keep storing reports.
        leader = (await js.stream_info("REPORTS")).cluster.leader  # type: ignore[union-attr]
        victim = next(n for n in nodes if n.name != leader and n is not nodes[0])
        survivor = next(n for n in nodes if n.name == leader)
        await office.close()
        await stop_node(victim)
        office = await connect_tls(
            survivor,
            dev_certs,
            "harbin.daoli",
            env["NATS_PASS_HARBIN_DAOLI"],
            inbox_prefix="_INBOX.harbin.daoli.PRIVATE",
        )
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                ack = await office.jetstream().publish(
                    "dutywatch.report.harbin.daoli",
                    b"{}",
                    headers={"Nats-Msg-Id": str(uuid.uuid4())},
                    timeout=2,
                )
                break
            except (nats.errors.TimeoutError, NoStreamResponseError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.25)
        assert ack.stream == "REPORTS"
        assert ack.seq == 2
    except BaseException:
        for node in nodes:
            print(f"---- {node.name} log ----\n{node.log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        for client in (office, service):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
        for node in nodes:
            await stop_node(node)


# ============================================================================== PostgreSQL


def with_user(url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


@dataclass
class Roles:
    database: str
    owner: str
    app: str
    review: str
    password: str
    admin_url: str

    def url(self, role: str) -> str:
        return with_user(self.admin_url, role, self.password, self.database)

    def psql_vars(self) -> list[str]:
        pairs = {
            "database": self.database,
            "owner_role": self.owner,
            "app_role": self.app,
            "review_role": self.review,
            "owner_password": self.password,
            "app_password": self.password,
            "review_password": self.password,
        }
        return [arg for key, value in pairs.items() for arg in ("-v", f"{key}={value}")]


async def psql(url: str, script: Path, variables: list[str]) -> str:
    code, out = await run(
        [str(postgres_bin_dir() / "psql"), "--no-psqlrc", "-X", *variables, "-f", str(script), url],
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    assert code == 0, f"psql -f {script.name} failed ({code}):\n{out}"
    return out


@pytest.fixture
async def roles(postgres_url: str) -> AsyncIterator[Roles]:
    """roles.sql run as a superuser, with unique names (roles are cluster-wide)."""
    suffix = secrets.token_hex(4)
    created = Roles(
        database=f"dw_deploy_{suffix}",
        owner=f"dw_owner_{suffix}",
        app=f"dw_app_{suffix}",
        review=f"dw_review_{suffix}",
        password=secrets.token_hex(12),
        admin_url=postgres_url,
    )
    try:
        await psql(postgres_url, DEPLOY / "postgresql" / "roles.sql", created.psql_vars())
        yield created
    finally:
        admin = await asyncpg.connect(postgres_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{created.database}" WITH (FORCE)')
            for role in (created.app, created.review, created.owner):
                await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


def report(org: str = "harbin.daoli.xinyang") -> dict[str, Any]:
    return {
        "schema": "dutywatch.report.v1",
        "report_id": str(uuid.uuid4()),
        "incident_ref": f"ref-{uuid.uuid4().hex[:10]}",
        "org": org,
        "stage": "first",
        "grade": "III",
        "category": "accident",
        "title": "新阳路燃气管道泄漏",
        "occurred_at": "2026-11-25T09:52:00+08:00",
        "reported_at": "2026-11-25T09:58:00+08:00",
        "summary": "施工挖断中压燃气管道，已疏散周边居民。",
        "reporter": {"name": "周明", "phone": "13800000000"},
    }


async def test_roles_and_grants_let_the_service_work_but_never_rewrite_the_timeline(
    roles: Roles,
) -> None:
    from dutywatch.migrations import migrate

    owner = await asyncpg.connect(roles.url(roles.owner), timeout=10)
    try:
        assert await migrate(owner)
    finally:
        await owner.close()
    grants = DEPLOY / "postgresql" / "grants.sql"
    variables = roles.psql_vars()
    await psql(roles.url(roles.owner), grants, variables)
    await psql(roles.url(roles.owner), grants, variables)  # idempotent: runs after each migrate

    # The service's own writes, as the service role: demo data, a report through intake, an ack.
    settings = Settings(database_url=roles.url(roles.app), nats_url="nats://unused")
    pool = await create_pool(settings.database_url, size=2)
    try:
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            await demo.load(conn, now)
        body = report()
        item = Inbound(
            data=json.dumps(body).encode(),
            subject=settings.subject("report", body["org"]),
            msg_id=body["report_id"],
            source=Source.NATS,
        )
        [outcome] = await ingest_batch(pool, settings, [item], now)
        assert outcome.verdict is Verdict.ACCEPTED, outcome
        assert outcome.incident_id is not None
        result = await commands.execute(
            pool,
            settings,
            commands.Verb.ACK,
            outcome.incident_id,
            actor="li-na",
            note="已派人到场",
            source=Source.NATS,
            now=now,
            command_id=uuid.uuid4(),
        )
        assert result
        # Art. 85: the purge strips the report's payload, the one UPDATE reports allow.
        purged = await purge.purge(
            pool,
            settings,
            outcome.incident_id,
            actor="cli:ops",
            reason="retention",
            source=Source.CLI,
            now=now,
        )
        assert purged["changed"] is True
        assert purged["purged"]["reports_stripped"] == 1
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM timeline_entries") >= 2
            for statement in (
                "UPDATE timeline_entries SET actor = actor",
                "DELETE FROM timeline_entries",
                "TRUNCATE timeline_entries",
                "UPDATE reports SET source = source",
                "DELETE FROM reports",
                "INSERT INTO schema_migrations (version, checksum) VALUES ('9999_x', 'x')",
                "CREATE TABLE sneaky (id int)",
                "DROP TRIGGER timeline_append_only ON timeline_entries",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
    finally:
        await pool.close()

    # Monitoring (docs/OPERATIONS.md) and `dutywatch verify` work as the read-only role.
    review = await asyncpg.connect(roles.url(roles.review), timeout=10)
    try:
        checked, problems = await verify_all(review)
        assert checked == 1
        assert problems == []
        for query in operations_sql():
            await review.fetch(query)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await review.fetch("SELECT * FROM personal_data")
    finally:
        await review.close()

    admin = await asyncpg.connect(roles.url(roles.owner), timeout=10)
    try:
        tables = [
            r["tablename"]
            for r in await admin.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        assert {"timeline_entries", "reports", "incidents", "outbox", "timers"} <= set(tables)

        async def can(role: str, table: str, privilege: str) -> bool:
            return bool(
                await admin.fetchval(
                    "SELECT has_table_privilege($1, $2, $3)", role, table, privilege
                )
            )

        # Append-only: the tables the grants name, and any with a BEFORE UPDATE-and-DELETE
        # trigger (the migrations' pattern), so a new append-only table cannot be forgotten.
        triggered = {
            r["name"]
            for r in await admin.fetch(
                """
                SELECT c.relname AS name
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND NOT t.tgisinternal
                  AND t.tgtype & 2 = 2 AND t.tgtype & 24 = 24
                """
            )
        }
        assert "timeline_entries" in triggered
        append_only = triggered | {"reports"}
        for table in tables:
            assert await can(roles.app, table, "SELECT"), table
            assert not await can(roles.app, table, "TRUNCATE"), table
            writable = table not in append_only and table != "schema_migrations"
            assert await can(roles.app, table, "INSERT") == (table != "schema_migrations"), table
            assert await can(roles.app, table, "UPDATE") == writable, table
            assert await can(roles.app, table, "DELETE") == writable, table
            hidden = {"personal_data", "api_tokens", "routing_keys"}
            assert await can(roles.review, table, "SELECT") == (table not in hidden), table
            assert not await can(roles.review, table, "INSERT"), table
    finally:
        await admin.close()


def operations_sql() -> list[str]:
    text = (REPO / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert len(queries) >= 4, "docs/OPERATIONS.md lost its monitoring queries"
    return queries


def test_postgresql_notes_carry_the_tested_grants() -> None:
    notes = (DEPLOY / "postgresql.md").read_text(encoding="utf-8")
    sql = (DEPLOY / "postgresql" / "grants.sql").read_text(encoding="utf-8")
    for statement in re.findall(r"^(?:GRANT|REVOKE) [^;]+;", sql, re.M):
        assert statement in notes, f"deploy/postgresql.md lacks: {statement}"
    for topic in (
        "synchronous_commit",
        "wal_level",
        "max_connections",
        "autovacuum",
        "pg_basebackup",
        "archive_command",
        "restore",
    ):
        assert topic in notes, topic


# ================================================================================= systemd


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name, encoding="utf-8")
    return parser


def exec_paths() -> Iterator[str]:
    for path in (DEPLOY / "systemd").glob("*.service"):
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("Exec"):
                yield shlex.split(value)[0].lstrip("-@:+!")


def test_systemd_units_have_the_expected_settings() -> None:
    serve = unit("dutywatch.service")
    svc = serve["Service"]
    assert svc["ExecStart"].endswith("/dutywatch serve")
    assert svc["EnvironmentFile"] == "/etc/dutywatch/dutywatch.env"
    assert svc["Restart"] == "always"
    assert svc["User"] == "dutywatch"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "KillSignal": "SIGTERM",
    }.items():
        assert svc[key] == value, key
    assert int(svc["TimeoutStopSec"]) >= 15  # the supervisor's 10 s for in-flight batches
    assert "dutywatch-migrate.service" in serve["Unit"]["After"]
    assert serve["Unit"]["StartLimitIntervalSec"] == "0"
    assert serve["Install"]["WantedBy"] == "multi-user.target"

    migrate = unit("dutywatch-migrate.service")
    assert migrate["Service"]["Type"] == "oneshot"
    assert migrate["Service"]["ExecStart"].endswith("/dutywatch migrate")
    assert "dutywatch.service" in migrate["Unit"]["Before"]
    text = (DEPLOY / "systemd" / "dutywatch-migrate.service").read_text(encoding="utf-8")
    assert "EnvironmentFile=/etc/dutywatch/dutywatch.env" in text
    assert "EnvironmentFile=/etc/dutywatch/migrate.env" in text
    assert "grants.sql" in migrate["Service"]["ExecStartPost"]

    natsd = unit("nats-server.service")["Service"]
    assert "nats-server -c /etc/nats/nats-server.conf" in natsd["ExecStart"]
    assert natsd["KillSignal"] == "SIGUSR2"
    assert natsd["EnvironmentFile"] == "/etc/dutywatch/nats-secrets.env"
    assert natsd["StateDirectory"] == "nats"  # /var/lib/nats, JetStream's store_dir parent
    assert natsd["Restart"] == "always"


async def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of the machine image (Debian package systemd)"
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for path in set(exec_paths()):
        stub = root / path.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n", encoding="ascii")
        stub.chmod(0o755)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for path in (DEPLOY / "systemd").glob("*.service"):
        shutil.copyfile(path, units / path.name)
        code, out = await run([analyze, f"--root={root}", "verify", str(units / path.name)])
        assert code == 0, f"{path.name}: {out}"
        assert out.strip() == "", f"{path.name}: {out}"


def test_env_files_cover_every_setting_and_load() -> None:
    values, commented = read_env_file(DEPLOY / "systemd" / "dutywatch.env")
    missing = config_env_vars() - set(values) - commented
    assert not missing, f"dutywatch.env does not mention {sorted(missing)}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert (
        set(re.findall(r"`(DUTYWATCH_[A-Z_]+)`", readme))
        - {
            "DUTYWATCH_TEST_DATABASE_URL",
            "DUTYWATCH_TEST_NATS_URL",
            "DUTYWATCH_TEST_CHROMIUM",
            "DUTYWATCH_TOKEN",
            "DUTYWATCH_URL",
        }
        <= set(values) | commented
    )
    settings = from_env(values)
    assert settings.stream_replicas == 3
    assert settings.subject_prefix == "dutywatch"  # the NATS permissions assume it
    assert settings.nats_url.startswith("tls://")
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)
    assert values["SSL_CERT_FILE"] == f"{TLS_DIR}/ca.pem"

    migrate_values, _ = read_env_file(DEPLOY / "systemd" / "migrate.env")
    assert set(migrate_values) == {"DUTYWATCH_DATABASE_URL"}
    assert "dutywatch_owner" in migrate_values["DUTYWATCH_DATABASE_URL"]
    assert "dutywatch_app" in values["DUTYWATCH_DATABASE_URL"]

    secrets_example, _ = read_env_file(DEPLOY / "systemd" / "nats-secrets.env.example")
    assert sorted(secrets_example) == nats_password_vars()
    compose_example, _ = read_env_file(DEPLOY / ".env.example")
    assert set(nats_password_vars()) <= set(compose_example)


# ================================================================================= compose


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(value: str) -> str:
    """Compose's ``${VAR:?message}`` / ``${VAR}`` with a placeholder value."""
    return re.sub(r"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}", "x" * 40, value)


def test_compose_file_is_consistent() -> None:
    data = compose()
    services: dict[str, Any] = data["services"]
    expected = {"postgres", *NODES, "migrate", "grants", "dutywatch-1", "dutywatch-2"}
    assert expected <= set(services)
    assert services["postgres"]["image"].startswith("postgres:17")
    named_volumes = set(data.get("volumes") or {})
    networks = set(data.get("networks") or {})
    # Made by deploy/tls/make-dev-certs.sh before `docker compose up` (never committed).
    script = (DEPLOY / "tls" / "make-dev-certs.sh").read_text(encoding="utf-8")
    generated = {f"./tls/{n}" for n in ("ca.pem", "nats.pem", "nats-key.pem") if n in script}

    for name, service in services.items():
        assert "image" in service or "build" in service, name
        depends = service.get("depends_on") or {}
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for network in service.get("networks") or []:
            assert network in networks, f"{name}: unknown network {network}"
        for volume in service.get("volumes") or []:
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).exists() or source in generated, (
                    f"{name} mounts missing {source}"
                )
            else:
                assert source in named_volumes, f"{name}: undeclared volume {source}"
            assert target.startswith("/"), volume
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == REPO
            assert (context / build["dockerfile"]).is_file()

    # Each NATS node: its entry file and the two it includes, side by side, plus TLS and a store.
    for node in NODES:
        service = services[node]
        assert service["command"][-1] == f"/etc/nats/{node}.conf"
        targets = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        for conf in (f"{node}.conf", "server.conf", "accounts.conf"):
            assert targets[f"/etc/nats/{conf}"] == f"./nats/{conf}"
        assert targets[TLS_DIR] == "./tls"
        assert targets[STATE_DIR] in named_volumes
        assert sorted(service["environment"]) == nats_password_vars()
        assert "nats" in service["networks"]["backend"]["aliases"]
        assert "healthz" in " ".join(service["healthcheck"]["test"])

    for name in ("dutywatch-1", "dutywatch-2"):
        service = services[name]
        assert service["command"] == ["serve"]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["grants"]["condition"] == "service_completed_successfully"
        assert service["read_only"] is True
        env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
        settings = from_env(env)
        assert settings.stream_replicas == 3
        assert urlsplit(settings.database_url).username == "dutywatch_app"
        assert urlsplit(settings.nats_url).hostname == "nats"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["grants"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_copies_what_exists() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = set()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
                copied.add((REPO / source).resolve())
    # A link in the package (dutywatch/_contracts -> contracts/) must find its target in the
    # build, or the wheel lacks the files it names.
    for link in (REPO / "dutywatch").rglob("*"):
        if link.is_symlink():
            assert link.resolve() in copied, f"{link} points outside what the image copies"
    assert re.search(r"^USER 10001", text, re.M)
    assert "/readyz" in text


# ============================================================================== Kubernetes


def manifests() -> dict[str, list[dict[str, Any]]]:
    docs: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs[path.name] = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for docs in manifests().values() for d in docs if d["kind"] == kind]


def test_kubernetes_manifests_are_well_formed_and_listed() -> None:
    docs = manifests()
    kustomization = docs.pop("kustomization.yaml")[0]
    assert sorted(kustomization["resources"]) == sorted(docs)
    for name, documents in docs.items():
        assert documents, name
        for doc in documents:
            assert doc.get("apiVersion"), name
            assert doc.get("kind"), name
            assert doc.get("metadata", {}).get("name"), name
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == "dutywatch", name


def test_kubernetes_deployment_probes_pdb_and_security() -> None:
    [deployment] = by_kind("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])

    [pdb] = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [service] = by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for policy in by_kind("NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()

    # Every setting reaches the pods: ConfigMap + Secret cover what the service reads.
    config = {d["metadata"]["name"]: d for d in by_kind("ConfigMap")}
    secret = {d["metadata"]["name"]: d for d in by_kind("Secret")}
    sources = container["envFrom"]
    keys: set[str] = set()
    for source in sources:
        if "configMapRef" in source:
            keys |= set(config[source["configMapRef"]["name"]]["data"])
        else:
            keys |= set(secret[source["secretRef"]["name"]]["stringData"])
    assert config_env_vars() <= keys
    assert "dutywatch_app" in secret["dutywatch-secrets"]["stringData"]["DUTYWATCH_DATABASE_URL"]
    env = {**config["dutywatch-config"]["data"], **secret["dutywatch-secrets"]["stringData"]}
    assert from_env(env).stream_replicas == 3
    for volume in pod["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["secretName"] in secret


def test_kubernetes_migration_job_runs_migrate_then_the_tested_grants() -> None:
    [job] = by_kind("Job")
    pod = job["spec"]["template"]["spec"]
    [migrate] = pod["initContainers"]
    assert migrate["args"] == ["migrate"]
    [grants] = pod["containers"]
    assert "/etc/dutywatch/postgresql/grants.sql" in grants["args"]
    assert all(
        s["secretRef"]["name"] == "dutywatch-migrate"
        for s in migrate["envFrom"] + grants["envFrom"]
    )
    [configmap] = [
        d for d in by_kind("ConfigMap") if d["metadata"]["name"] == "dutywatch-postgresql"
    ]
    shipped = (DEPLOY / "postgresql" / "grants.sql").read_text(encoding="utf-8")
    assert configmap["data"]["grants.sql"] == shipped, (
        "paste grants.sql into postgresql-grants.yaml"
    )
    [deployment] = by_kind("Deployment")
    for source in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]:
        assert source.get("secretRef", {}).get("name") != "dutywatch-migrate"


def test_kubernetes_manifests_match_the_api_schemas() -> None:
    """Against the Kubernetes OpenAPI schemas (kubernetes-validate ships them; no network)."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    for name, documents in manifests().items():
        if name == "kustomization.yaml":
            continue
        for doc in documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


# ==================================================================================== docs


def test_operations_guide_covers_the_essentials() -> None:
    text = (REPO / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    for topic in (
        "/readyz",
        "consumer",
        "outbox",
        "timers",
        "sync_interval",
        "synchronous_commit",
        "dutywatch migrate",
        "Sizing",
        "Upgrades",
        "alarm",
    ):
        assert topic in text, topic
    for relative in re.findall(r"`(deploy/[A-Za-z0-9_./-]+)`", text):
        assert (REPO / relative.rstrip(".")).exists(), relative
