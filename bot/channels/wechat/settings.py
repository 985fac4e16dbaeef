"""Settings of the WeChat channel: secrets from the environment, credentials.yml may override.

Rasa's ``${VAR}`` expansion in credentials.yml fails when a variable is unset, and the
assistant must start without any WeChat configuration; so the channel reads the environment
itself. A missing or invalid setting disables the webhook (it answers 503 with the reason)
instead of stopping the server.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
ENVIRONMENT = {
    "token": "FANZHA_WECHAT_TOKEN",
    "app_id": "FANZHA_WECHAT_APP_ID",
    "app_secret": "FANZHA_WECHAT_APP_SECRET",
    "aes_key": "FANZHA_WECHAT_AES_KEY",
    "api_base_url": "FANZHA_WECHAT_API_BASE_URL",
}
_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")
_APP_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


class SettingsError(ValueError):
    """The WeChat channel is configured wrongly."""


class NotConfigured(SettingsError):
    """The WeChat channel is not configured at all (no token)."""


@dataclass(frozen=True)
class WeChatSettings:
    token: str = field(repr=False)
    app_id: str = ""
    app_secret: str = field(default="", repr=False)
    aes_key: str = field(default="", repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    # WeChat waits 5 s for a reply, then retries; answer before that, with margin for the network.
    reply_deadline: float = 4.5
    # Requests whose signed timestamp is further than this from now are refused as replays.
    max_request_age: float = 300.0
    max_body_bytes: int = 64 * 1024
    # A passive reply holds at most 2048 bytes (WeChat's documentation); a customer-service
    # text is refused above 2048 bytes with errcode 45002 (measured by developers, undocumented).
    passive_reply_bytes: int = 2048
    push_message_bytes: int = 2048

    @property
    def safe_mode(self) -> bool:
        return bool(self.aes_key)

    @property
    def can_push(self) -> bool:
        return bool(self.app_id and self.app_secret)


def load_settings(
    credentials: Optional[Mapping[str, Any]], environ: Mapping[str, str]
) -> WeChatSettings:
    """Settings from ``environ`` with non-empty ``credentials`` entries taking precedence."""
    known = {f.name: f for f in fields(WeChatSettings)}
    credentials = dict(credentials or {})
    unknown = sorted(set(credentials) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s) in credentials.yml: {', '.join(unknown)}")
    values: dict[str, Any] = {
        name: environ[var].strip() for name, var in ENVIRONMENT.items() if environ.get(var, "").strip()
    }
    values.update({k: v for k, v in credentials.items() if v not in (None, "")})
    if not values.get("token"):
        raise NotConfigured("set FANZHA_WECHAT_TOKEN (the Token entered in the WeChat admin console)")
    for name in ("token", "app_id", "app_secret", "aes_key", "api_base_url"):
        if name in values:
            values[name] = str(values[name]).strip()
    for name in ("reply_deadline", "max_request_age", "max_body_bytes",
                 "passive_reply_bytes", "push_message_bytes"):
        if name in values:
            kind = known[name].type
            try:
                values[name] = float(values[name]) if kind == "float" else int(values[name])
            except (TypeError, ValueError):
                raise SettingsError(f"'{name}' must be a number") from None
    settings = WeChatSettings(**values)
    _validate(settings)
    return settings


def _validate(s: WeChatSettings) -> None:
    if not _TOKEN.match(s.token):
        raise SettingsError("FANZHA_WECHAT_TOKEN must be 3 to 32 letters or digits")
    if s.app_id and not _APP_ID.match(s.app_id):
        raise SettingsError("FANZHA_WECHAT_APP_ID is not a valid AppID")
    if s.app_secret and not s.app_id:
        raise SettingsError("FANZHA_WECHAT_APP_SECRET needs FANZHA_WECHAT_APP_ID")
    if s.aes_key:
        if not s.app_id:
            raise SettingsError("safe mode (FANZHA_WECHAT_AES_KEY) needs FANZHA_WECHAT_APP_ID")
        if not _AES_KEY.match(s.aes_key) or len(_decode_aes_key(s.aes_key)) != 32:
            raise SettingsError("FANZHA_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
    if not re.match(r"^https?://[^/]+/(.*/)?$", s.api_base_url):
        raise SettingsError("api_base_url must be an http(s) URL ending with '/'")
    if not 0 < s.reply_deadline < 5:
        raise SettingsError("reply_deadline must be between 0 and 5 seconds (WeChat waits 5 s)")
    if s.max_request_age <= 0 or s.max_body_bytes <= 0:
        raise SettingsError("max_request_age and max_body_bytes must be positive")
    if min(s.passive_reply_bytes, s.push_message_bytes) < 16:
        raise SettingsError("reply size limits must be at least 16 bytes")


def _decode_aes_key(key: str) -> bytes:
    try:
        return base64.b64decode(key + "=", validate=True)
    except (binascii.Error, ValueError):
        return b""
