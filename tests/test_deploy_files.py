"""The container files read without a container tool: deploy/Dockerfile builds from a pinned
base and runs as a non-root user with a health check and no secret; .dockerignore keeps data,
keys and the venv out of the build; deploy/compose.yml gives both Rasa replicas everything
deploy/endpoints.shared.yml asks for, and takes every secret from the env file.
tests/test_container.py builds and runs the image itself."""
from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
SECRETS = ("FANZHA_API_TOKEN", "FANZHA_ACTION_TOKEN", "FANZHA_REPORT_KEY", "FANZHA_CONSOLE_SECRET",
           "FANZHA_POSTGRES_PASSWORD", "FANZHA_REDIS_PASSWORD")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in joined.splitlines()) if line]


DOCKERFILE = instructions((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
FINAL_STAGE = DOCKERFILE[max(i for i, (op, _) in enumerate(DOCKERFILE) if op == "FROM"):]
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
RASA_SERVICES = [name for name, service in SERVICES.items() if "bot.cli.rasa_server" in service.get("command", [])]


def test_the_base_is_pinned_by_digest():
    base = next(args for op, args in DOCKERFILE if op == "ARG" and args.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=python:3\.10-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert all(args.split()[0] == "${BASE_IMAGE}" for op, args in DOCKERFILE if op == "FROM")


def test_the_image_is_built_in_two_stages_and_copies_the_venv_and_model():
    assert [op for op, _ in DOCKERFILE].count("FROM") == 2
    assert "models/fanzha.tar.gz" in " ".join(args for op, args in DOCKERFILE if op == "COPY")
    assert any(op == "COPY" and args.startswith("--from=build /app /app") for op, args in FINAL_STAGE)


def test_the_final_stage_runs_as_a_non_root_user_with_a_health_check():
    users = [args for op, args in FINAL_STAGE if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert [op for op, _ in FINAL_STAGE].count("HEALTHCHECK") == 1


def test_no_secret_is_baked_into_the_image():
    settings = " ".join(args for op, args in DOCKERFILE if op in ("ENV", "ARG", "LABEL"))
    for name in SECRETS + ("FANZHA_DATABASE_URL",):
        assert name not in settings
    copied = " ".join(args for op, args in DOCKERFILE if op in ("COPY", "ADD"))
    assert not re.search(r"\b(var|data|keys)/|\.env\b|\.key\b", copied)


def test_dockerignore_lets_in_only_what_the_image_runs():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"  # nothing reaches the build unless let back in below
    let_in = [p[1:].strip("/") for p in patterns if p.startswith("!")]
    for private in ("var", "data", "keys", ".venv", "models", "results", "deploy/fanzha.env", "tests", "bench"):
        assert not any(p == private or p.startswith(private + "/") and p != "models/fanzha.tar.gz" for p in let_in), private
    # Each COPY of the build reads a path let back in.
    for op, args in DOCKERFILE:
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert source in let_in or source.rstrip("/") in let_in, source


def test_compose_starts_two_rasa_replicas_the_action_server_postgres_and_redis():
    assert len(RASA_SERVICES) == 2
    assert {"actions", "postgres", "redis"} <= set(SERVICES)
    for name in RASA_SERVICES:
        command = SERVICES[name]["command"]
        assert command[command.index("--endpoints") + 1] == "deploy/endpoints.shared.yml"
    assert SERVICES["actions"]["command"][:2] == ["rasa", "run"]
    assert "ports" not in SERVICES["actions"]  # only the replicas reach it
    for name in RASA_SERVICES:
        assert all(port.startswith("127.0.0.1:") for port in SERVICES[name]["ports"])


@pytest.mark.parametrize("variable", sorted(set(re.findall(
    r"\$\{(FANZHA_\w+)\}", (DEPLOY / "endpoints.shared.yml").read_text(encoding="utf-8"))) | {
    "FANZHA_API_TOKEN", "FANZHA_ACTION_TOKEN", "FANZHA_DATABASE_URL", "FANZHA_REPORT_KEY",
    "FANZHA_CONSOLE_SECRET", "FANZHA_SOCKETIO_REDIS_URL"}))
def test_both_replicas_get_every_setting_the_shared_set_up_needs(variable: str):
    environments = [SERVICES[name]["environment"] for name in RASA_SERVICES]
    assert all(variable in env for env in environments)
    assert environments[0][variable] == environments[1][variable]


def test_every_secret_comes_from_the_env_file_which_is_not_committed():
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for service in SERVICES.values():
        for name, value in (service.get("environment") or {}).items():
            if any(word in name for word in ("TOKEN", "KEY", "SECRET", "PASSWORD", "DATABASE_URL", "REDIS_URL")):
                assert "${" in str(value), f"{name} is written in compose.yml"
    required = set(re.findall(r"\$\{(\w+):\?", (DEPLOY / "compose.yml").read_text(encoding="utf-8")))
    assert required == set(SECRETS)
    for name in required:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f"{name} missing (or filled in) in env.example"
    assert "deploy/fanzha.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
