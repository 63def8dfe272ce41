"""Faults, per-request header overrides and disconnect detection."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from kern.model_server import Fault, ModelServer

SLOW = {"x-kern-tokens-per-second": "100", "x-kern-reply-words": "10"}


def _stream_types(client: openai.OpenAI, **headers: str) -> list[str]:
    stream = client.responses.create(model="kern-mock", input="hi", stream=True, extra_headers=headers)
    return [event.type for event in stream]


def test_header_overrides_reply_words_and_chunking(client: openai.OpenAI) -> None:
    types = _stream_types(client, **{"x-kern-reply-words": "7", "x-kern-chunk-words": "3"})
    assert types.count("response.output_text.delta") == 3
    response = client.responses.create(
        model="kern-mock", input="hi", extra_headers={"x-kern-reply-words": "5"}
    )
    assert response.output_text == "Once upon a time a"


def test_pacing_and_first_token_delay(client: openai.OpenAI) -> None:
    start = time.monotonic()
    _stream_types(client, **SLOW)
    assert 0.09 <= time.monotonic() - start < 2.0
    start = time.monotonic()
    stream = client.responses.create(
        model="kern-mock", input="hi", stream=True, extra_headers={"x-kern-first-token-delay": "0.3"}
    )
    stamps: dict[str, float] = {}
    for event in stream:
        stamps.setdefault(event.type, time.monotonic() - start)
    assert stamps["response.created"] < 0.3 <= stamps["response.output_text.delta"]


def test_invalid_header_is_400_naming_it(client: openai.OpenAI, model_server: ModelServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="kern-mock", input="hi", extra_headers={"x-kern-reply-words": "many"})
    assert info.value.body["param"] == "x-kern-reply-words"  # type: ignore[index]
    assert "x-kern-reply-words" in info.value.message
    assert model_server.requests[-1].status == "error"


def test_429_honours_retry_after(model_server: ModelServer) -> None:
    model_server.add_fault(Fault(kind="429", retry_after=0.3))
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=1) as retrying:
        start = time.monotonic()
        response = retrying.responses.create(model="kern-mock", input="hi")
        assert time.monotonic() - start >= 0.3
    assert response.output_text
    first, second = model_server.requests
    assert (first.status, first.status_code, first.fault) == ("fault", 429, "429")
    assert (second.status, second.headers["x-stainless-retry-count"]) == ("completed", "1")


def test_429_without_retries(client: openai.OpenAI, model_server: ModelServer) -> None:
    model_server.add_fault("429", retry_after=2)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="kern-mock", messages=[{"role": "user", "content": "hi"}])
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"


def test_500_and_401(client: openai.OpenAI, model_server: ModelServer) -> None:
    model_server.add_fault("500")
    model_server.add_fault("401")
    with pytest.raises(openai.InternalServerError) as server_error:
        client.responses.create(model="kern-mock", input="hi")
    assert server_error.value.type == "server_error"
    with pytest.raises(openai.AuthenticationError) as auth_error:
        client.responses.create(model="kern-mock", input="hi", stream=True)
    assert auth_error.value.code == "invalid_api_key"
    assert auth_error.value.message.endswith("Incorrect API key provided")
    assert client.responses.create(model="kern-mock", input="hi").output_text
    assert [r.status_code for r in model_server.requests] == [500, 401, 200]


def test_fault_times_and_model_matching(client: openai.OpenAI, model_server: ModelServer) -> None:
    model_server.add_fault("500", times=2, model="flaky")
    assert client.responses.create(model="steady", input="hi").output_text
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model="flaky", input="hi")
    assert client.responses.create(model="flaky", input="hi").output_text
    assert model_server.state.faults == []


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_drop_breaks_the_stream(client: openai.OpenAI, model_server: ModelServer, api: str) -> None:
    model_server.add_fault("drop", after_words=4)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as info:
        read_text(client, api, received)
    # The SDK surfaces the cut as APIConnectionError caused by httpx's RemoteProtocolError.
    assert "incomplete chunked read" in str(info.value.__cause__)
    assert "".join(received) == "Once upon a time"
    record = model_server.requests[-1]
    assert (record.status, record.fault, record.words_sent) == ("fault", "drop", 4)


def test_drop_before_final_event_when_reply_is_short(
    client: openai.OpenAI, model_server: ModelServer
) -> None:
    model_server.add_fault("drop", after_words=100)
    stream = client.responses.create(
        model="kern-mock", input="hi", stream=True, extra_headers={"x-kern-reply-words": "3"}
    )
    types: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        types.extend(event.type for event in stream)
    assert "response.output_item.done" in types and "response.completed" not in types


def test_drop_non_streaming(model_server: ModelServer) -> None:
    model_server.add_fault("drop")
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=0) as no_retry:
        with pytest.raises(openai.APIConnectionError):
            no_retry.responses.create(model="kern-mock", input="hi")
    # A non-streaming request is retried by the SDK because the body is read inside the request.
    model_server.add_fault("drop")
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=1) as retrying:
        assert retrying.responses.create(model="kern-mock", input="hi").output_text
    assert [r.status for r in model_server.requests] == ["fault", "fault", "completed"]


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_stall_goes_silent_mid_stream_until_the_client_leaves(model_server: ModelServer, api: str) -> None:
    model_server.add_fault("stall", after_words=4)
    received: list[str] = []
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=0, timeout=0.5) as client:
        with pytest.raises(openai.APITimeoutError):
            read_text(client, api, received)
    assert "".join(received) == "Once upon a time"
    record = model_server.wait_for_disconnect(timeout=2)
    assert (record.status, record.fault, record.words_sent) == ("disconnected", "stall", 4)


def test_stalled_model_close_after_created_is_a_prompt_disconnect(
    client: openai.OpenAI, model_server: ModelServer
) -> None:
    model_server.configure(first_token_delay=5)
    stream = client.responses.create(model="kern-mock", input="hi", stream=True)
    first = next(iter(stream))
    assert first.type == "response.created"
    closed_at = time.time()
    stream.close()
    record = model_server.wait_for_disconnect(timeout=0.5)
    assert record.finished_at is not None and record.finished_at - closed_at < 0.5
    assert record.words_sent == 0 and record.status_code == 200


async def test_cancelled_async_consumer_stops_generation(model_server: ModelServer) -> None:
    client = openai.AsyncOpenAI(base_url=model_server.base_url, api_key="test", max_retries=0)
    got_words = asyncio.Event()

    async def consume() -> None:
        stream = await client.chat.completions.create(
            model="kern-mock",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-kern-tokens-per-second": "50"},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got_words.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_words.wait(), timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await model_server.wait_for_disconnect_async(timeout=0.5)
    assert 0 < record.words_sent < 60
    await client.close()


def test_stop_aborts_stalled_streams() -> None:
    with ModelServer() as server, openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0) as c:
        stream = c.responses.create(
            model="m", input="hi", stream=True, extra_headers={"x-kern-first-token-delay": "30"}
        )
        assert next(iter(stream)).type == "response.created"
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 1.0
        assert server.requests[-1].status == "disconnected"
        with pytest.raises(openai.APIConnectionError):
            list(stream)


def test_admin_routes(model_server: ModelServer, client: openai.OpenAI) -> None:
    with httpx.Client(base_url=model_server.url, timeout=5) as admin:
        config = admin.put("/admin/config", json={"reply_words": 4}).json()
        assert config["reply_words"] == 4 and config["tokens_per_second"] == 0
        assert admin.put("/admin/config", json={"reply_words": -1}).status_code == 422
        assert admin.put("/admin/config", json={"bogus": 1}).status_code == 422
        assert admin.get("/admin/config").json()["reply_words"] == 4
        assert admin.post("/admin/faults", json={"kind": "429", "retry_after": 0.1}).status_code == 201
        assert admin.post("/admin/faults", json={"kind": "nope"}).status_code == 422
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model="kern-mock", input="hi")
        assert client.responses.create(model="kern-mock", input="hi").output_text == "Once upon a time"
        admin.post("/admin/faults", json={"kind": "500"})
        assert len(admin.get("/admin/faults").json()) == 1
        assert admin.delete("/admin/faults").status_code == 204
        assert admin.get("/admin/faults").json() == []
        logged = admin.get("/admin/requests").json()
        assert [(r["status"], r["status_code"]) for r in logged] == [("fault", 429), ("completed", 200)]
        assert logged[1]["body"]["input"] == "hi" and logged[1]["words_sent"] == 4
        assert admin.delete("/admin/requests").status_code == 204
        assert admin.get("/admin/requests").json() == []


def read_text(client: openai.OpenAI, api: str, received: list[str]) -> None:
    """Stream a reply through the SDK (Responses or Chat Completions), its text pieces into `received`."""
    if api == "responses":
        for event in client.responses.create(model="kern-mock", input="hi", stream=True):
            if event.type == "response.output_text.delta":
                received.append(event.delta)
    else:
        stream = client.chat.completions.create(
            model="kern-mock", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
