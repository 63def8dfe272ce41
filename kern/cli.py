"""The `kern` command: `kern demo`, `kern model-server`, `kern serve`."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `kern` command."""
    parser = argparse.ArgumentParser(prog="kern", description="kern: teams of LLM agents on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the team cancellation example on local Ray")
    demo.add_argument("example", nargs="?", type=Path, default=Path("examples/team_run_cancellation.py"))
    commands.add_parser("model-server", help="serve the local OpenAI-compatible model", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from kern.demo import run_demo

        run_demo(args.example)
    elif args.command == "model-server":
        from kern.model_server.cli import serve

        serve(rest)
