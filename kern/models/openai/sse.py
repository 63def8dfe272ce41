"""An OpenAI stream's events as plain JSON objects: the SDK makes the request, kern reads the body.

The SDK's typed stream builds a pydantic object for every server-sent event: about 80-115 us of CPU per
text delta on a 2-core machine, the largest per-token cost of a run. Reading the `data:` lines of the same
response and `json.loads` costs about 22 us (`benchmarks/sdk_stream.py`). The request, its retries,
authentication and HTTP status errors stay the SDK's (`with_streaming_response`).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
from openai import AsyncAPIResponse

STREAM_BROKEN: tuple[type[Exception], ...] = (httpx2.RequestError, anyio.EndOfStream, ssl.SSLError)
"""What the SDK's transport raises when a stream breaks mid-way (the SDK maps the same ones)."""


async def sse_json(response: AsyncAPIResponse[Any]) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of the response's server-sent events, until `[DONE]` or the end of the body."""
    async for line in response.iter_lines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                return
            yield json.loads(data)
