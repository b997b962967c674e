"""ERR-GEN-5: a refused registration never echoes a registered header value, even when the
deployment's own error answer (which the message quotes) repeats it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reference_server.registry import DiscoveryError, discover, redact


def test_redact_replaces_longest_first() -> None:
    assert redact("token Bearer s3cr3t bad", ["Bearer s3cr3t", "s3cr3t"]) == "token [redacted] bad"
    assert redact("abc", ["ab"]) == "abc"  # values under 4 characters are left alone


def test_discovery_error_does_not_echo_a_header_value() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"]
        return httpx.Response(401, json={"message": f"token {token} is not valid"})

    async def main() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            with pytest.raises(DiscoveryError) as info:
                await discover(client, "http://127.0.0.1:9", {"authorization": "Bearer s3cr3t"})
        return str(info.value)

    message = asyncio.run(main())
    assert "401" in message and "[redacted]" in message
    assert "s3cr3t" not in message
