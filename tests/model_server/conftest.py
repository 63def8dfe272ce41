"""Fixtures: one local model server for the whole model-server test package."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from kern.model_server import ModelServer, ModelServerConfig

# Fast by default; tests that care about pacing override it per request or per test.
TEST_CONFIG = ModelServerConfig(tokens_per_second=0, reply_words=60)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    with ModelServer(TEST_CONFIG) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_model_server(model_server: ModelServer) -> Iterator[None]:
    model_server.configure(**TEST_CONFIG.model_dump())
    model_server.clear_faults()
    model_server.clear_requests()
    yield
    model_server.configure(**TEST_CONFIG.model_dump())
    model_server.clear_faults()


@pytest.fixture
def client(model_server: ModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=model_server.base_url, api_key="test", max_retries=0, timeout=10) as c:
        yield c
