"""The voice channel's settings (credentials.yml) and the TwiML it answers with.

Every prompt is a ``<Gather input="speech dtmf">`` in Mandarin that posts back even on
silence (``actionOnEmptyResult``), so the channel decides what silence means. One key
press ends a gather (``numDigits=1``, no finish key) so a menu choice acts at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

from rasa.shared.exceptions import InvalidConfigException
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

_E164 = re.compile(r"^\+[1-9]\d{5,14}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Twilio rejects speechTimeout="auto" with the default speech model.
_AUTO_MODELS = {"numbers_and_commands", "phone_call", "experimental_conversations", "experimental_utterances"}


@dataclass(frozen=True)
class VoiceSettings:
    public_url: str = ""  # scheme://host[/prefix] Twilio calls; empty: taken from each request
    gather_language: str = "cmn-Hans-CN"  # speech recognition (BCP-47; zh-CN also works)
    say_voice: str = "Polly.Zhiyu-Neural"
    say_language: str = "cmn-CN"
    speech_timeout: str = "2"  # seconds of quiet that end an utterance, or "auto"
    gather_timeout: int = 6  # seconds to wait for the caller to start
    speech_model: str = ""  # empty: Twilio picks the model for the language
    min_confidence: float = 0.5  # below this a speech result is read back for confirmation
    max_sentence_chars: int = 30
    duty_number: str = ""  # E.164 number of the duty desk; empty: no transfer
    dial_timeout: int = 20  # seconds the duty desk may ring
    bot_timeout: float = 10.0  # Twilio gives up on a webhook after 15 s

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> "VoiceSettings":
        credentials = dict(credentials or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(credentials) - set(known))
        if unknown:
            raise _config_error(unknown[0], f"unknown setting (known: {', '.join(known)})")
        values: dict[str, Any] = {}
        for name, value in credentials.items():
            if value is None:
                continue
            kind: Any = type(known[name].default)
            try:
                values[name] = value.strip() if kind is str and isinstance(value, str) else kind(value)
            except (TypeError, ValueError):
                raise _config_error(name, f"must be a {kind.__name__}, got {value!r}") from None
        if "speech_timeout" in values:
            values["speech_timeout"] = str(values["speech_timeout"])
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", self.public_url):
            raise _config_error("public_url", "must look like https://host or https://host/prefix")
        for name in ("gather_language", "say_language"):
            if not _LANGUAGE.match(getattr(self, name)):
                raise _config_error(name, "must be a language tag such as cmn-Hans-CN, zh-CN or cmn-CN")
        if not self.say_voice:
            raise _config_error("say_voice", "must name a voice, e.g. Polly.Zhiyu-Neural")
        if self.speech_timeout == "auto":
            if self.speech_model not in _AUTO_MODELS:
                raise _config_error("speech_timeout", f"'auto' needs speech_model one of {sorted(_AUTO_MODELS)}")
        elif not self.speech_timeout.isdigit() or int(self.speech_timeout) < 1:
            raise _config_error("speech_timeout", "must be a whole number of seconds or 'auto'")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise _config_error("min_confidence", "must be from 0 to 1")
        for name, low in (("gather_timeout", 1), ("dial_timeout", 5), ("max_sentence_chars", 10)):
            if getattr(self, name) < low:
                raise _config_error(name, f"must be at least {low}")
        if not 1.0 <= self.bot_timeout <= 14.0:
            raise _config_error("bot_timeout", "must be from 1 to 14 seconds (Twilio waits 15)")
        if self.duty_number and not _E164.match(self.duty_number):
            raise _config_error("duty_number", f"'{self.duty_number}' must be an E.164 number such as +8657112345678")


def _config_error(name: str, reason: str) -> InvalidConfigException:
    return InvalidConfigException(f"credentials.yml, voice channel, '{name}': {reason}")


class Twiml:
    """Builds the channel's TwiML documents from sentences that are ready to be spoken."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings

    def _say(self, parent: VoiceResponse | Gather, blocks: Iterable[Sequence[str]]) -> None:
        for sentences in blocks:
            if sentences:
                parent.say("".join(sentences), voice=self.settings.say_voice, language=self.settings.say_language)

    def prompt(self, blocks: Iterable[Sequence[str]], action: str) -> VoiceResponse:
        s = self.settings
        gather = Gather(
            input="speech dtmf",
            action=action,
            method="POST",
            language=s.gather_language,
            speech_timeout=s.speech_timeout,
            timeout=s.gather_timeout,
            num_digits=1,
            finish_on_key="",
            action_on_empty_result=True,
            **({"speech_model": s.speech_model} if s.speech_model else {}),
        )
        self._say(gather, blocks)
        response = VoiceResponse()
        response.append(gather)
        return response

    def goodbye(self, blocks: Iterable[Sequence[str]]) -> VoiceResponse:
        response = VoiceResponse()
        self._say(response, blocks)
        response.hangup()
        return response

    def transfer(self, blocks: Iterable[Sequence[str]], action: str, whisper_url: str) -> VoiceResponse:
        """Say the blocks, then ring the duty desk; ``action`` hears how the dial ended."""
        response = VoiceResponse()
        self._say(response, blocks)
        dial = Dial(action=action, method="POST", timeout=self.settings.dial_timeout, answer_on_bridge=True)
        dial.number(self.settings.duty_number, url=whisper_url, method="POST")
        response.append(dial)
        return response

    def whisper(self, blocks: Iterable[Sequence[str]]) -> VoiceResponse:
        """Played to the duty officer alone before the two calls are joined."""
        response = VoiceResponse()
        self._say(response, blocks)
        return response
