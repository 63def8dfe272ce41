"""The ``serve`` CLI's argument parsing."""

from __future__ import annotations

from kern.model_server.cli import DEFAULT_PORT, build_parser


def test_cli_defaults_and_overrides() -> None:
    defaults = build_parser().parse_args([])
    assert (defaults.host, defaults.port, defaults.tokens_per_second) == ("127.0.0.1", DEFAULT_PORT, 200.0)
    args = build_parser().parse_args(
        ["--port", "9001", "--tokens-per-second", "0", "--first-token-delay", "1.5", "--reply-words", "12"]
    )
    assert (args.port, args.tokens_per_second) == (9001, 0.0)
    assert (args.first_token_delay, args.reply_words) == (1.5, 12)
