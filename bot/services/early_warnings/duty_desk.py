"""The duty desk's number for warning calls: FANZHA_DUTY_NUMBER, else the voice channel's
``duty_number`` in credentials.yml. The dispatcher (which rings the desk with every red warning)
and the warning call (which transfers the resident) read it here, so both ring the same desk."""
from __future__ import annotations

from collections.abc import Mapping

from bot.services.sms import SmsError, normalize_phone

ENV_DUTY_NUMBER = "FANZHA_DUTY_NUMBER"


class DutyNumberError(ValueError):
    """The number is not an E.164 phone number; the message names where it was set."""


def duty_number(env: Mapping[str, str], configured: str, configured_where: str) -> str | None:
    """The desk's E.164 number, or None when neither the environment nor ``configured`` sets one."""
    raw, where = (env.get(ENV_DUTY_NUMBER) or "").strip(), ENV_DUTY_NUMBER
    if not raw:
        raw, where = configured.strip(), configured_where
    if not raw:
        return None
    try:
        return normalize_phone(raw)
    except SmsError:
        raise DutyNumberError(f"{where}: must be a phone number in E.164 form such as +8657112345678") from None
