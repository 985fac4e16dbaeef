"""The real assistant for end-to-end tests: scripts/run.sh on free ports, with its own
endpoints file and SQLite tracker store in a temporary folder."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from cryptography.fernet import Fernet

from tests.conftest import ROOT

MODEL = ROOT / "models" / "fanzha.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _report_key(folder: Path) -> str:
    """One key per folder, so a restart in the same folder opens the same reports."""
    key_file = folder / "report.key"
    if not key_file.exists():
        key_file.write_bytes(Fernet.generate_key())
    return key_file.read_text().strip()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket, as the Rasa server asks the understanding server."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


class Assistant:
    def __init__(self, tmp: Path, nlu_process: str = "off") -> None:
        """``nlu_process``: FANZHA_NLU_PROCESS for the run command. Tests run without the
        understanding server unless they are about it: the Rasa server understands messages the
        same way itself, and a second model in every assistant would slow the suite. Benchmarks
        use the run command's default, auto."""
        assert MODEL.exists(), "no trained model: run 'make train' (make test does) before pytest"
        self.rasa_port, self.actions_port = free_port(), free_port()
        self.token = "test-token-" + uuid.uuid4().hex
        self.action_token = "test-action-token-" + uuid.uuid4().hex  # what the Rasa server shows the action server
        # The project's endpoints, with this test's ports and tracker database.
        settings = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
        settings["action_endpoint"]["url"] = f"http://127.0.0.1:{self.actions_port}/webhook"
        settings["tracker_store"]["db"] = str(tmp / "tracker.db")
        endpoints = tmp / "endpoints.yml"
        endpoints.write_text(yaml.safe_dump(settings), encoding="utf-8")
        env = {
            # Reports and their key in the test's folder unless the test chose its own.
            "FANZHA_DATABASE_URL": f"sqlite:///{tmp / 'fanzha.db'}",
            "FANZHA_REPORT_KEY": _report_key(tmp),
            **os.environ,
            "FANZHA_RASA_PORT": str(self.rasa_port),
            "FANZHA_ACTIONS_PORT": str(self.actions_port),
            "FANZHA_NLU_PROCESS": nlu_process,
            "FANZHA_ENDPOINTS": str(endpoints),
            "FANZHA_API_TOKEN": self.token,
            "FANZHA_ACTION_TOKEN": self.action_token,
        }
        self.folder = tmp  # the tracker database, the reports and the log
        # The reports' database and key both servers were given, for a test that reads or adds to them.
        self.database_url, self.report_key = env["FANZHA_DATABASE_URL"], env["FANZHA_REPORT_KEY"]
        self.log = tmp / "run.log"
        self.process = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        started = time.monotonic()
        deadline = started + 300
        while "fanzha is ready." not in self.log.read_text(encoding="utf-8", errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the run command did not become ready:\n" + self.log.read_text()[-3000:])
            time.sleep(0.5)
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        self.ready_s = time.monotonic() - started  # the run command's "ready", before the NLU server
        if nlu_process == "on" or (nlu_process == "auto" and len(os.sched_getaffinity(0)) >= 2):  # as run.sh's nproc
            self.wait_for_understanding_server(deadline)

    def understanding_server(self) -> tuple[int, Path] | None:
        """The understanding server's process id and Unix socket (bot/cli/nlu_server.py), while it runs."""
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.getsid(int(entry)) != self.process.pid:  # started by this run command
                    continue
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
            except OSError:  # gone meanwhile
                continue
            if "bot.cli.nlu_server" in argv:
                return int(entry), Path(argv[argv.index("--socket") + 1])
        return None

    def understand(self, text: str) -> dict | None:
        """The understanding server's answer, or None when it does not answer."""
        running = self.understanding_server()
        if running is None:
            return None
        connection = UnixHTTPConnection(running[1])
        try:
            connection.request("POST", "/model/parse", json.dumps({"text": text}), {"Content-Type": "application/json"})
            response = connection.getresponse()
            return json.loads(response.read()) if response.status == 200 else None
        except OSError:
            return None
        finally:
            connection.close()

    def understanding_server_up(self) -> bool:
        return self.understand("你好") is not None

    def wait_for_understanding_server(self, deadline: float) -> None:
        """It starts once the assistant is ready (scripts/run.sh)."""
        while not self.understanding_server_up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the understanding server did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.5)

    def say(self, text: str, sender: str | None = None) -> list[dict]:
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender or uuid.uuid4().hex, "message": text},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> int:
        """Ctrl-C, as a person at the terminal would press it (SIGINT to the process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                return self.process.wait()
        return self.process.returncode
