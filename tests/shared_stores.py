"""Throwaway PostgreSQL and Redis servers on free loopback ports, for the scale-out test.

They use Debian's binaries (scripts/system_packages.sh installs them), never the packages' own
services, and keep everything in a temporary folder that is removed afterwards. PostgreSQL
refuses to run as root, so as root it runs as the ``postgres`` system user.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.assistant import free_port

INSTALL_HINT = "run scripts/system_packages.sh as root (it installs postgresql and redis-server)"


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): {INSTALL_HINT}", pytrace=False)
    return Path(found[-1]).parent


def _redis_server() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(path, os.X_OK):
        pytest.fail(f"Redis is not installed (no redis-server): {INSTALL_HINT}", pytrace=False)
    return path


def _wait(ready, what: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # not accepting connections yet
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} did not start within {seconds:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


class Postgres:
    """A fresh cluster with one password-protected user (its superuser)."""

    def __init__(self, user: str, password: str) -> None:
        self.bin = _postgres_bin()
        self.user, self.password = user, password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fanzha-pg-"))
        self.data, self.log = self.dir / "data", self.dir / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.dir, postgres.pw_uid, postgres.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        password_file = self.dir / "password"
        password_file.write_text(password + "\n")
        if self._as:
            os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", user, f"--pwfile={password_file}",
                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C")
        password_file.unlink()
        # Loopback TCP only, no Unix socket; fsync off: a test's data need not survive a crash.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        _wait(self._accepts, "PostgreSQL", self.log)

    def create_database(self, name: str) -> str:
        """A new database; returns its SQLAlchemy URL."""
        connection = self.connect("postgres")
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        connection.cursor().execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{name}"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([*self._as, str(self.bin / program), *args], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"{program} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def connect(self, db: str):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                                password=self.password, dbname=db, connect_timeout=5)

    def _accepts(self) -> bool:
        self.connect("postgres").close()
        return True

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """An in-memory Redis (no snapshots, no append-only file) with a password."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fanzha-redis-"))
        self.log = self.dir / "redis.log"
        self.process = subprocess.Popen(
            [_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--requirepass", password],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(lambda: self.client().ping(), "Redis", self.log)

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
