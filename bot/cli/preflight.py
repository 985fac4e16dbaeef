"""Checks at start, so that a bad setting stops fanzha with a message that names it.

On its own, Rasa retries a tracker database that does not answer for ever, and stops with a
traceback on a broken credentials file or model. scripts/run.sh runs these checks beside the
servers' start (they add nothing to the time to ready) and stops everything on a problem.

    python -m bot.cli.preflight --model models/fanzha.tar.gz --endpoints endpoints.yml --credentials credentials.yml
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tarfile
from pathlib import Path
from typing import Mapping

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore
from bot.services.tracker_retention import RetentionError, tracker_store_url

CONNECT_TIMEOUT_S = 5


class PreflightError(RuntimeError):
    """A setting that would stop or silently cripple the servers; the message says which."""


def check_model(path: Path) -> None:
    if not path.is_file():
        raise PreflightError(f"no trained model at {path}: run 'make train'")
    if not tarfile.is_tarfile(path):
        raise PreflightError(f"{path} is not a trained model (not a .tar.gz archive): run 'make train' again")


def check_credentials(path: Path) -> None:
    try:
        channels = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PreflightError(f"cannot read the credentials file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise PreflightError(f"the credentials file {path} is not valid YAML{line}") from None
    if not isinstance(channels, dict):
        raise PreflightError(f"the credentials file {path} must map channel names to their settings")
    for name, settings in channels.items():
        if settings is not None and not isinstance(settings, dict):
            raise PreflightError(f"channel {name!r} in {path}: its settings must be a mapping or empty")
        module = str(name).rpartition(".")[0]
        if module and not _module_exists(module):
            raise PreflightError(f"channel {name!r} in {path}: there is no module {module}")


def _module_exists(module: str) -> bool:
    """Without importing it (our channel modules pull in all of Rasa)."""
    root = Path(__file__).resolve().parents[2]
    if (root / module.split(".")[0]).is_dir():  # one of ours: the file must be there
        local = root.joinpath(*module.split("."))
        return local.with_suffix(".py").is_file() or (local / "__init__.py").is_file()
    return importlib.util.find_spec(module.split(".")[0]) is not None


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_tracker_store(endpoints: Path) -> None:
    try:
        url = tracker_store_url(endpoints)
    except (RetentionError, ValueError) as error:
        raise PreflightError(str(error)) from None
    if url is None:
        return  # in memory: nothing to reach
    try:
        parsed = make_url(url)
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args=connect_args)
    except (ArgumentError, ValueError, ImportError, OSError) as error:
        raise PreflightError(f"the tracker store URL in {endpoints} is not usable: {error}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise PreflightError(
            f"the tracker store {_safe(url)} does not answer ({reason}): check tracker_store in {endpoints}"
        ) from None
    finally:
        engine.dispose()


def check_lock_store(endpoints: Path) -> None:
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(endpoints), "lock_store")
    if config is None or (config.type or "").lower() not in ("redis", "bot.stores.lock_store.atomicredislockstore"):
        return
    import redis

    settings = config.kwargs
    client = redis.Redis(host=config.url or "localhost", port=int(settings.get("port") or 6379),
                         db=int(settings.get("db") or 1), password=settings.get("password") or None,
                         ssl=bool(settings.get("use_ssl")), socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as error:
        raise PreflightError(f"the Redis lock store at {config.url}:{settings.get('port') or 6379} does not answer "
                             f"({error}): check lock_store in {endpoints}") from None
    finally:
        client.close()


def check_report_database(env: Mapping[str, str] = os.environ) -> None:
    try:
        ReportStore(env=env).close()
    except StorageError as error:
        raise PreflightError(str(error)) from None


def problems(model: Path, endpoints: Path, credentials: Path) -> list[str]:
    found = []
    checks = (
        lambda: check_model(model),
        lambda: check_credentials(credentials),
        lambda: check_tracker_store(endpoints),
        lambda: check_lock_store(endpoints),
        check_report_database,
    )
    for check in checks:
        try:
            check()
        except PreflightError as error:
            found.append(str(error))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--endpoints", type=Path, required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    args = parser.parse_args(argv)
    found = problems(args.model, args.endpoints, args.credentials)
    for problem in found:
        print(f"fanzha cannot start: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
