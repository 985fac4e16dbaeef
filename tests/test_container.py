"""The image of deploy/Dockerfile, built and run with podman: it runs as the non-root user, holds
no data, key or secret, passes its own health check, and a resident's message goes through it
(Rasa server and action server in the container) to the scam check's answer.

Building takes minutes (the venv is ~3 GB), so this runs only when asked (tests/conftest.py
leaves it out of the suite otherwise):

    make container-test   # as root: FANZHA_CONTAINER_TEST=1 .venv/bin/pytest -q tests/test_container.py

Asked for, it fails (never skips) when podman is missing. With no registry reachable the base is
deploy/local-base.sh's stand-in (needs debootstrap); FANZHA_CONTAINER_BASE=IMAGE builds on
another base, e.g. the pinned official one where a registry is reachable."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from tests.assistant import free_port
from tests.conftest import ROOT

IMAGE = "localhost/fanzha:test"
LOCAL_BASE = "localhost/fanzha-base:bookworm-py3.10"
START_SECONDS = 300
# A proxy that re-signs TLS (as on the test machines) needs its CA for pip; a build secret.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def podman_command() -> list[str]:
    podman = shutil.which("podman")
    assert podman, "FANZHA_CONTAINER_TEST=1 but podman is not installed (apt-get install podman)"
    command = [podman]
    # crun (Debian's default) refuses a host with cgroups v1 and v2 mixed; runc runs there.
    if shutil.which("runc"):
        command += ["--runtime", "runc"]
    return command


PODMAN = podman_command()
# Limits at or below the host's: a sandbox without CAP_SYS_RESOURCE cannot raise them.
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def image() -> str:
    assert (ROOT / "models" / "fanzha.tar.gz").exists(), "no trained model: run 'make train' first"
    base = os.environ.get("FANZHA_CONTAINER_BASE", LOCAL_BASE)
    if base == LOCAL_BASE and podman("image", "exists", LOCAL_BASE, check=False).returncode != 0:
        made = subprocess.run([str(ROOT / "deploy" / "local-base.sh")], capture_output=True, text=True, timeout=900)
        assert made.returncode == 0, made.stderr[-3000:]
    build = ["build", "--format", "docker", *LIMITS, "--build-arg", f"BASE_IMAGE={base}",
             "-f", str(ROOT / "deploy" / "Dockerfile"), "-t", IMAGE]
    if os.path.exists(CA_BUNDLE):
        build += ["--secret", f"id=ca_bundle,src={CA_BUNDLE}"]
    podman(*build, str(ROOT), timeout=3600)
    return IMAGE


@pytest.fixture(scope="module")
def container(image: str):
    name = f"fanzha-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    token = uuid.uuid4().hex
    # The token reaches podman through its environment (-e NAME), not its command line.
    env = {**os.environ, "FANZHA_API_TOKEN": token}
    started = subprocess.run([*PODMAN, "run", "-d", "--name", name, *LIMITS, "-e", "FANZHA_API_TOKEN",
                              "-p", f"127.0.0.1:{port}:5005", image],
                             capture_output=True, text=True, timeout=120, env=env)
    assert started.returncode == 0, started.stderr
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/status", params={"token": token}, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert podman("container", "inspect", name, "--format", "{{.State.Running}}").stdout.strip() == "true", (
                podman("logs", name, check=False).stderr[-3000:])
            time.sleep(3)
        else:
            pytest.fail("the container did not answer in time:\n" + podman("logs", name, check=False).stderr[-3000:])
        yield name, base
    finally:
        podman("rm", "-f", name, check=False)


def test_the_image_runs_as_a_non_root_user_and_carries_no_secret(image: str):
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    # podman lists it beside Config; an OCI-format build drops it (hence --format docker).
    assert (inspected.get("Healthcheck") or {}).get("Test"), "the image has no health check"
    names = {entry.split("=", 1)[0] for entry in config["Env"]}
    assert not {n for n in names if any(w in n for w in ("TOKEN", "KEY", "SECRET", "PASSWORD", "DATABASE_URL"))}

    def run(*command: str) -> str:
        return podman("run", "--rm", *LIMITS, image, *command).stdout

    assert run("id", "-u").strip() == "10001"
    # Only what .dockerignore lets in; var/ made empty (owner-only), for the running server.
    assert set(run("ls", "-A", "/app").split()) == {
        ".venv", "README.md", "actions", "bot", "constraints.txt", "credentials.yml", "deploy",
        "endpoints.yml", "fanzha.egg-info", "knowledge", "models", "pyproject.toml", "scripts", "var"}
    assert run("find", "/app/var", "/app/models", "-mindepth", "1", "-not", "-type", "d").split() == ["/app/models/fanzha.tar.gz"]
    assert run("stat", "-c", "%a %U", "/app/var/db", "/app/var/keys").split() == ["700", "fanzha", "700", "fanzha"]


def test_a_message_goes_through_the_container_to_the_scam_check(container, knowledge):
    name, base = container
    sent = requests.post(f"{base}/webhooks/rest/webhook", timeout=120, json={
        "sender": uuid.uuid4().hex, "message": "有人打电话自称是公安局的，说我涉嫌洗钱，让我把钱转到安全账户"})
    assert sent.status_code == 200, sent.text
    said = "\n".join(reply.get("text", "") for reply in sent.json())
    # The verdict comes from the action server inside the container (the knowledge's scam type).
    assert knowledge.scam_types["impersonate_police"].name in said
    assert "110" in said


def test_the_health_check_passes_once_the_servers_answer(container):
    name, _ = container
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    processes = podman("top", name, "user", "args").stdout
    assert "bot.cli.rasa_server" in processes and "rasa run actions" in processes
    assert all(line.split()[0] == "fanzha" for line in processes.splitlines()[1:] if line.strip())
