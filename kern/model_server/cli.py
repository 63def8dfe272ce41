"""``serve``: run the local model server in the foreground."""

from __future__ import annotations

import argparse

import uvicorn

from kern.model_server.app import create_app
from kern.model_server.config import ModelServerConfig
from kern.model_server.state import ServerState

DEFAULT_PORT = 8700


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kern model-server", description="Local OpenAI-compatible model server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--tokens-per-second", type=float, default=ModelServerConfig().tokens_per_second)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--reply-words", type=int, default=ModelServerConfig().reply_words)
    parser.add_argument("--chunk-words", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    return parser


def serve(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and serve until interrupted."""
    args = build_parser().parse_args(argv)
    config = ModelServerConfig(
        tokens_per_second=args.tokens_per_second,
        first_token_delay=args.first_token_delay,
        reply_words=args.reply_words,
        chunk_words=args.chunk_words,
    )
    print(f"kern model server: OpenAI base_url http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(
        create_app(ServerState(config)),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    serve()
