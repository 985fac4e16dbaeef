"""Customer-service messages (客服消息): how a reply reaches the user after the 5 s window; and
the pictures residents send (临时素材, ``media/get``), fetched with the same client and token.

wechatpy's WeChatClient keeps the access token in its session storage and fetches a new one
when it is about to expire or when WeChat says it is invalid. Its calls block, so they run in
a small thread pool. The API base URL is configurable (a test server, a proxy); wechatpy
hard-codes the token URL, so the client here builds it from the same base.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.services.pictures import PictureError

logger = logging.getLogger(__name__)

# WeChat answers these with an error that a retry cannot fix: the user has not written in the
# last 48 hours (45015), the quota for this user is used up (45047), the user is unknown or has
# unsubscribed (40003, 43004), the text is too long (45002).
_FINAL_ERRORS = {40003, 43004, 45002, 45015, 45047}


class _TimeoutSession(requests.Session):
    """wechatpy fetches the token without a timeout; every call here gets one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, **kwargs)


class _Client(WeChatClient):
    def __init__(self, app_id: str, app_secret: str, api_base_url: str, timeout: float) -> None:
        super().__init__(app_id, app_secret, timeout=timeout)
        self.API_BASE_URL = api_base_url
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class CustomerServiceSender:
    """Sends text through ``message/custom/send``, retrying what a retry can fix."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base_url: str,
        timeout: float = 5.0,
        retry_delays: Sequence[float] = (1.0, 4.0),
        threads: int = 4,
    ) -> None:
        self.client = _Client(app_id, app_secret, api_base_url, timeout)
        self.retry_delays = tuple(retry_delays)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wechat-push")

    async def send(self, openid: str, chunks: Sequence[str]) -> bool:
        """Send the chunks in order; False (and logged) when one could not be delivered."""
        loop = asyncio.get_running_loop()
        for index, chunk in enumerate(chunks):
            for attempt, delay in enumerate((*self.retry_delays, None)):
                try:
                    await loop.run_in_executor(
                        self._pool, self.client.message.send_text, openid, chunk
                    )
                    break
                except Exception as error:  # network, HTTP, WeChat error codes, odd JSON
                    code = error.errcode if isinstance(error, WeChatClientException) else None
                    final = code in _FINAL_ERRORS or delay is None
                    logger.warning(
                        "wechat customer-service message %d/%d, attempt %d failed: %s%s",
                        index + 1, len(chunks), attempt + 1, type(error).__name__,
                        f" (errcode {code})" if code else "",
                    )
                    if final:
                        logger.error(
                            "wechat reply not delivered to a user: %d of %d parts lost",
                            len(chunks) - index, len(chunks),
                        )
                        return False
                    await asyncio.sleep(delay)  # type: ignore[arg-type]  # None only on the final attempt
        return True

    async def fetch_picture(self, media_id: str, max_bytes: int) -> bytes:
        """A picture a user sent (its MediaId), read no further than ``max_bytes``; raises
        PictureError("too_big") beyond, WeChatClientException or a requests error otherwise.
        wechatpy's ``get`` adds the cached token and renews it when WeChat says it expired."""
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._pool, lambda: self.client.get(
            "media/get", params={"media_id": media_id}, stream=True, hooks={"response": _read_at_most(max_bytes)},
        ))
        if not isinstance(response, requests.Response):  # JSON without an errcode: not a picture
            raise WeChatClientException(None, "media/get answered JSON, not a picture")
        return response.content

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _read_at_most(limit: int) -> Callable[..., requests.Response]:
    """A requests response hook for a streamed download: the body is read here, at most
    ``limit`` bytes of it (WeChat's answer is trusted no further than any other picture)."""

    def read(response: requests.Response, **_: Any) -> requests.Response:
        declared = response.headers.get("Content-Length", "")
        body = bytearray()
        if not (declared.isdigit() and int(declared) > limit):
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > limit:
                    break
        response.close()
        if (declared.isdigit() and int(declared) > limit) or len(body) > limit:
            raise PictureError("too_big", f"the picture is over {limit} bytes")
        response._content = bytes(body)  # what response.content (and wechatpy) read from now on
        return response

    return read
