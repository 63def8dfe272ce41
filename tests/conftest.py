"""Session-wide real parts: one local model server (real HTTP) and one Ray instance."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import ray

from actors.runtime import NAMESPACE
from kern.model_server import ModelServer, ModelServerConfig

pytest_plugins = ["tests.db_fixtures"]

os.environ.pop("KERN_DB_URL", None)
os.environ.pop("RAY_ADDRESS", None)
# A developer's running `kern up` cluster is never attached to by the tests.
os.environ["KERN_HOME"] = tempfile.mkdtemp(prefix="kern-test-home-")
# No accidental calls to a real provider: every test model points at the local server.
os.environ["OPENAI_API_KEY"] = "kern-test"
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"

DEFAULT_CONFIG = ModelServerConfig(tokens_per_second=1000.0, reply_words=30)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    """The local OpenAI-compatible server, shared by the session."""
    with ModelServer(DEFAULT_CONFIG.model_copy()) as server:
        yield server


@pytest.fixture
def server(model_server: ModelServer) -> Iterator[ModelServer]:
    """The model server, reset to its defaults for this test."""
    model_server.clear_faults()
    model_server.clear_requests()
    model_server.configure(**DEFAULT_CONFIG.model_dump())
    yield model_server
    model_server.clear_faults()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One Ray instance for the whole test session, always a new one: a cluster someone else left running
    on the machine (another suite, a `ray start`) is never attached to."""
    if not ray.is_initialized():
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False
        )
    yield
    ray.shutdown()
