"""Local OpenAI-compatible model server (Responses + Chat Completions) for demos and tests.

Usage::

    with ModelServer(ModelServerConfig(tokens_per_second=0)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        server.add_fault("429", retry_after=0.1)      # next model request is rate limited
        server.add_fault("stall", after_words=3)      # next reply goes silent after 3 words
        server.configure(first_token_delay=5)         # the model stalls before its first token
        server.wait_for_disconnect(timeout=0.5)       # assert the client closed the stream

Per-request overrides (e.g. via the openai client's ``default_headers``):
``x-kern-tokens-per-second``, ``x-kern-first-token-delay``, ``x-kern-reply-words``,
``x-kern-chunk-words``, ``x-kern-invalid-json`` (structured answers that do not fit). Admin routes:
``PUT/GET /admin/config``, ``POST/GET/DELETE /admin/faults``, ``GET/DELETE /admin/requests``.
"""

from kern.model_server.app import create_app
from kern.model_server.config import Fault, ModelServerConfig, RecordedRequest
from kern.model_server.server import ModelServer
from kern.model_server.state import ServerState

__all__ = ["Fault", "ModelServer", "ModelServerConfig", "RecordedRequest", "ServerState", "create_app"]
