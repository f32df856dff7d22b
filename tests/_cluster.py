"""Real Ray clusters and a real PostgreSQL server for the distributed-search tests.

:class:`LoopbackCluster` starts Ray nodes with the ``ray`` CLI (``ray start --head --block``, then
more ``ray start --address=... --block`` nodes) in their own process sessions, and stops exactly
those processes afterwards (``ray stop`` would kill every Ray process on the machine, other users'
included). :func:`postgres_server` yields a PostgreSQL URL: the server named by
``$HWNAS_TEST_POSTGRES_URL`` (what ``.ci/run`` starts), else a throwaway server started here with
``initdb``/``pg_ctl`` in a temporary folder.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cmdlines() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


@dataclass
class LoopbackCluster:
    """Ray nodes on this machine, each a ``ray start --block`` process leading its own session."""

    temp_dir: str
    port: int
    nodes: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for nodes and drivers: this cluster's own Ray auth token, no usage stats.

        Ray 2.60 enables token auth on a head when ``~/.ray/auth_token`` exists but not on a joining
        node or on a driver given an explicit address, so the mode and token are set explicitly.
        """
        return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(Path(self.temp_dir) / "auth_token"),
                "RAY_USAGE_STATS_ENABLED": "0"}

    @classmethod
    def start(cls, node_specs: list[dict[str, Any]]) -> LoopbackCluster:
        """Start a head with ``node_specs[0]`` then join the other nodes; each spec: num_cpus, resources."""
        # Short path: Ray's unix sockets live under it and paths are limited to ~107 bytes.
        cluster = cls(temp_dir=tempfile.mkdtemp(prefix="hwray"), port=free_port())
        token = Path(cluster.temp_dir) / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        try:
            for i, spec in enumerate(node_specs):
                cluster._start_node(head=(i == 0), **spec)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def add_node(self, num_cpus: int = 1, resources: dict[str, float] | None = None) -> None:
        """Join one more node (its ``ray start`` process is ``self.nodes[-1]``)."""
        self._start_node(head=False, num_cpus=num_cpus, resources=resources)

    def _start_node(self, head: bool, num_cpus: int = 1, resources: dict[str, float] | None = None) -> None:
        args = [RAY, "start", "--block", f"--num-cpus={num_cpus}", "--node-ip-address=127.0.0.1",
                "--disable-usage-stats", "--object-store-memory=80000000",
                f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"]
        if head:
            args += ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}",
                     f"--ray-client-server-port={free_port()}"]
        else:
            args += [f"--address={self.address}"]
        if resources:
            args.append(f"--resources={json.dumps(resources)}")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, env=self.env)
        self.nodes.append(proc)
        lines = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # --block prints this once the node is up, then waits
            lines.append(line)
            if "Ray runtime started" in line:
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("ray start exited:\n" + "".join(lines[-30:]))
        if "Ray runtime started" not in lines[-1]:
            raise RuntimeError("ray start did not come up in 120 s:\n" + "".join(lines[-30:]))
        # Keep draining its output so the pipe never fills and blocks the node.
        _drain(proc)

    def sessions(self) -> set[int]:
        return {p.pid for p in self.nodes}

    def processes(self) -> list[tuple[int, str]]:
        """``(pid, cmdline)`` of every process of this cluster (its sessions, or naming its temp dir)."""
        sids = self.sessions()
        return [(pid, cmd) for pid, cmd in _proc_cmdlines() if _session_of(pid) in sids or self.temp_dir in cmd]

    def task_pids(self, prefix: str = "ray::nas-trial-") -> dict[int, str]:
        """Worker processes of this cluster now running a task whose name starts with ``prefix``."""
        return {pid: cmd.strip() for pid, cmd in self.processes() if cmd.startswith(prefix)}

    def stop(self) -> None:
        """SIGTERM each node's ``ray start`` (it stops its processes), then SIGKILL whatever is left."""
        for proc in self.nodes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _drain(proc: subprocess.Popen[str]) -> None:
    import threading

    def run() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass

    threading.Thread(target=run, daemon=True).start()


# --- PostgreSQL -------------------------------------------------------------------------------------------

def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def _throwaway_server() -> Iterator[str]:
    """A PostgreSQL server in a temp folder on a loopback port; yields an admin URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found and $HWNAS_TEST_POSTGRES_URL unset; "
                    ".ci/run installs and starts them (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="hwpg"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the distribution's postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run a PostgreSQL server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "hwnas", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, text=True)
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60",
                        "start"], check=True, capture_output=True, text=True)
        try:
            yield f"postgresql+psycopg2://hwnas@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, text=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh, empty database on a real PostgreSQL server, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    env_url = os.environ.get("HWNAS_TEST_POSTGRES_URL")
    with contextlib.ExitStack() as stack:
        admin = env_url or stack.enter_context(_throwaway_server())
        url = make_url(admin)
        dbname = f"hwnas_test_{uuid.uuid4().hex[:12]}"
        dsn = dict(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                   dbname=url.database or "postgres")
        conn = psycopg2.connect(**dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{dbname}"')
            try:
                yield url.set(database=dbname).render_as_string(hide_password=False)
            finally:
                with conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            conn.close()
