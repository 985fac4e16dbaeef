"""The WeChat Official Account message protocol: signatures, safe XML, safe mode (AES).

wechatpy does the message parsing and the AES envelope; this module adds what it leaves to
the caller: constant-time signature checks, a freshness window for timestamps, and an XML
pre-check with defusedxml. wechatpy parses with xmltodict on expat, which refuses entity
declarations but still reads a DTD; defusedxml runs first and rejects any DTD, entity or
external reference, so wechatpy only ever sees plain, flat XML.
"""
from __future__ import annotations

import hmac
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Mapping, Optional

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply, TransferCustomerServiceReply
from wechatpy.utils import WeChatSigner

# Characters XML 1.0 cannot carry; a reply containing one would be rejected by WeChat.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_MAX_QUERY_VALUE = 128


class RequestRejected(Exception):
    """A request the channel refuses; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _query_value(args: Mapping[str, str], name: str) -> str:
    value = args.get(name) or ""
    if not value or len(value) > _MAX_QUERY_VALUE:
        raise RequestRejected(403, f"missing or invalid query parameter '{name}'")
    return value


@dataclass(frozen=True)
class SignedQuery:
    signature: str
    timestamp: str
    nonce: str


def verify_query(
    args: Mapping[str, str], token: str, max_age: float, now: Optional[float] = None
) -> SignedQuery:
    """Check ``signature`` over token, timestamp and nonce, and that the timestamp is fresh."""
    query = SignedQuery(
        _query_value(args, "signature"), _query_value(args, "timestamp"), _query_value(args, "nonce")
    )
    # As bytes: hmac refuses to compare str with non-ASCII characters (a 500 instead of a 403).
    if not hmac.compare_digest(signature(token, query.timestamp, query.nonce).encode(), query.signature.encode()):
        raise RequestRejected(403, "bad signature")
    if not _TIMESTAMP.match(query.timestamp):
        raise RequestRejected(403, "bad timestamp")
    now = time.time() if now is None else now
    if abs(now - int(query.timestamp)) > max_age:
        raise RequestRejected(403, "stale timestamp")
    return query


def read_fields(data: bytes | str) -> dict[str, str]:
    """Parse a WeChat ``<xml>`` document into its top-level text fields.

    Raises 400 for malformed XML, any DTD or entity, a different root, or a repeated field.
    """
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise RequestRejected(400, f"XML refused: {type(error).__name__}") from None
    except (ET.ParseError, ValueError) as error:
        raise RequestRejected(400, f"malformed XML: {error}") from None
    if root.tag != "xml":
        raise RequestRejected(400, "the root element must be <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields:
            raise RequestRejected(400, f"repeated field <{child.tag}>")
        fields[child.tag] = (child.text or "").strip() if len(child) == 0 else ""
    return fields


def parse(xml: bytes | str, fields: Mapping[str, str]) -> BaseMessage:
    """Turn checked XML into a wechatpy message; ``fields`` from :func:`read_fields`."""
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not fields.get(name):
            raise RequestRejected(400, f"missing field <{name}>")
    if not fields["CreateTime"].isdigit():
        raise RequestRejected(400, "field <CreateTime> is not a number")
    if fields["MsgType"].lower() == "event" and not fields.get("Event"):
        raise RequestRejected(400, "missing field <Event>")
    try:
        return parse_message(xml)
    except Exception as error:  # wechatpy raises whatever its field converters raise
        raise RequestRejected(400, f"unreadable message: {type(error).__name__}") from None


class SafeMode:
    """Safe mode (安全模式): messages and replies travel AES-encrypted with the EncodingAESKey."""

    def __init__(self, token: str, aes_key: str, app_id: str) -> None:
        self.token = token
        self._crypto = WeChatCrypto(token, aes_key, app_id)

    def decrypt(self, envelope: Mapping[str, str], query: SignedQuery, msg_signature: str) -> str:
        encrypted = envelope.get("Encrypt") or ""
        if not encrypted:
            raise RequestRejected(400, "missing field <Encrypt>")
        expected = signature(self.token, query.timestamp, query.nonce, encrypted)
        if not msg_signature or not hmac.compare_digest(expected.encode(), msg_signature.encode()):
            raise RequestRejected(403, "bad msg_signature")
        try:
            return self._crypto.decrypt_message(
                dict(envelope), msg_signature, query.timestamp, query.nonce
            )
        except (InvalidSignatureException, InvalidAppIdException):
            raise RequestRejected(403, "message encrypted for another account") from None
        except Exception as error:  # base64, AES block size, length prefix, UTF-8
            raise RequestRejected(400, f"cannot decrypt: {type(error).__name__}") from None

    def encrypt(self, xml: str, nonce: str) -> str:
        return self._crypto.encrypt_message(xml, nonce, str(int(time.time())))


def xml_safe(text: str) -> str:
    """Text that survives inside wechatpy's CDATA sections unchanged.

    wechatpy writes ``<![CDATA[...]]>`` without escaping; a ``]]>`` in the text (the bot may
    quote the user) would end the section, so it is split across two sections.
    """
    return _NOT_XML_CHAR.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def text_reply(message: BaseMessage, content: str) -> str:
    """The passive reply XML answering ``message`` with ``content``."""
    return TextReply(message=message, content=xml_safe(content)).render()


def transfer_reply(message: BaseMessage) -> str:
    """The passive reply handing ``message`` to WeChat's customer-service staff (多客服)."""
    return TransferCustomerServiceReply(message=message).render()
