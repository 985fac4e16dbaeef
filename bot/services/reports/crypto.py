"""The report key: where it comes from, how its file is made, and the cipher built on it.

The key: ``FANZHA_REPORT_KEY``, or the key file ``var/keys/report.key``, created (owner-only, in an
owner-only folder) with a new database. It is kept apart from ``var/db/`` so that a copy of the
databases (a backup, a volume snapshot) holds no key; the key file of an older version is moved
there when fanzha starts (bot/services/runtime_state.py). A key that does not open an existing database stops the start with a
clear error, before anything is written with the wrong key (bot/services/reports/store.py checks it).

The cipher encrypts with Fernet and finds senders by a keyed hash (HMAC with a key derived from the
report key), never by the id in clear.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.services.reports.errors import ReportKeyError
from bot.services.runtime_state import REPORT_KEY, private_folder

log = logging.getLogger(__name__)

DEFAULT_KEY_FILE = REPORT_KEY
ENV_REPORT_KEY = "FANZHA_REPORT_KEY"
_MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def _valid_key(raw: str | bytes, where: str) -> bytes:
    key = raw.strip().encode() if isinstance(raw, str) else raw.strip()
    try:
        Fernet(key)
    except (ValueError, binascii.Error):
        raise ReportKeyError(
            f"{where} is not a valid report key: it must be 32 bytes in url-safe base64 (make one with {_MAKE_KEY})"
        ) from None
    return key


def _install_key(path: Path, key: bytes) -> bool:
    """Put ``key`` at ``path`` (owner-only file in an owner-only folder), whole or not at all, unless
    a key is there already: False then (another process made or moved one a moment ago)."""
    private_folder(path.parent)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key.strip() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, path)  # atomic, and never replaces a key: a reader sees all of it or nothing
    except FileExistsError:
        return False
    except OSError as error:
        raise ReportKeyError(f"cannot write the report key {path}: {error.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return True


def _write_new_key(path: Path) -> bytes:
    key = Fernet.generate_key()
    if not _install_key(path, key):
        return load_key(path, create=False)
    log.warning("created a new report key in %s: keep a copy in a safe place, without it the reports cannot be read", path)
    return key


def load_key(key_file: Path = DEFAULT_KEY_FILE, create: bool = False, env: Mapping[str, str] = os.environ) -> bytes:
    """The report key from FANZHA_REPORT_KEY, else from ``key_file``; a new key file only if ``create``."""
    if env.get(ENV_REPORT_KEY):
        return _valid_key(env[ENV_REPORT_KEY], ENV_REPORT_KEY)
    try:
        raw = key_file.read_bytes()
    except FileNotFoundError:
        if create:
            return _write_new_key(key_file)
        raise ReportKeyError(f"no report key: set {ENV_REPORT_KEY} or put the key in {key_file}") from None
    except OSError as error:
        raise ReportKeyError(f"cannot read the report key {key_file}: {error.strerror}") from None
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        log.warning("the report key %s can be read by other users (mode %o); run: chmod 600 %s", key_file, mode, key_file)
    return _valid_key(raw, str(key_file))


class _Cipher:
    def __init__(self, key: bytes, where: str) -> None:
        self._fernet = Fernet(key)
        self._where = where
        # A separate key for looking senders up, derived so that the hash reveals nothing of the key.
        self._lookup_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"fanzha sender lookup").derive(
            base64.urlsafe_b64decode(key)
        )

    def encrypt(self, text: str | None) -> str | None:
        return None if text is None else self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ReportKeyError(f"the report key ({self._where}) does not open this record") from None

    def lookup_hash(self, sender: str | None) -> str | None:
        return None if sender is None else hmac.new(self._lookup_key, sender.encode("utf-8"), hashlib.sha256).hexdigest()
