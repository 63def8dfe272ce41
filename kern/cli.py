"""The `kern` command: `kern demo`, `kern model-server`, `kern serve`, `kern up` / `down` / `status`,
`kern ps`, `kern stop`."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `kern` command."""
    parser = argparse.ArgumentParser(prog="kern", description="kern: teams of LLM agents on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_command = commands.add_parser("demo", help="run the team cancellation example on local Ray")
    demo_command.add_argument(
        "example", nargs="?", type=Path, default=Path("examples/team_run_cancellation.py")
    )
    commands.add_parser("model-server", help="serve the local OpenAI-compatible model", add_help=False)
    serve_command = commands.add_parser("serve", help="serve an AgentOS over HTTP (default: the demo team)")
    serve_command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_command.add_argument("--port", type=int, default=7777, help="port to listen on (default 7777)")
    serve_command.add_argument(
        "target", nargs="?", help="module:attr of an AgentOS or a callable returning one (default: the demo)"
    )
    up_command = commands.add_parser(
        "up", help="start a local Ray cluster that scripts attach to (fast start)"
    )
    up_command.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs for Ray (default: this machine's)"
    )
    up_command.add_argument("--port", type=int, default=None, help="GCS port (default 6379, or a free one)")
    up_command.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for Ray (default 90)"
    )
    down_command = commands.add_parser("down", help="stop the cluster started by `kern up`")
    down_command.add_argument(
        "--timeout", type=float, default=20.0, help="seconds before SIGKILL (default 20)"
    )
    commands.add_parser("status", help="say whether the `kern up` cluster is running (exit code 1 if not)")
    commands.add_parser(
        "ps", help="list every agent's and team's replicas: state, runs, CPU, lag, pid, memory, idle, node"
    )
    stop_command = commands.add_parser(
        "stop", help="cancel the runs of agents or teams and end their replicas (the next run restarts them)"
    )
    stop_command.add_argument("components", nargs="*", help="ids, or kind:id (agent:writer, team:story)")
    stop_command.add_argument("--all", action="store_true", help="every agent and team")
    stop_command.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for them to end (default 30)"
    )
    args, rest = parser.parse_known_args(argv)
    if args.command in ("up", "down", "status"):
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from kern.local_cluster_control import run_command

        raise SystemExit(run_command(args))
    if args.command == "ps":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from kern.ps import run_ps

        raise SystemExit(run_ps())
    if args.command == "stop":
        if rest or bool(args.components) == args.all:
            parser.error("name the agents or teams to stop, or give --all")
        from kern.ps import run_stop

        raise SystemExit(run_stop(None if args.all else args.components, args.timeout))
    if args.command == "demo":
        from kern.demo import run_demo

        run_demo(args.example)
    elif args.command == "model-server":
        from kern.model_server.cli import serve as serve_model

        serve_model(rest)
    elif args.command == "serve":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from kern.os.serve import serve as serve_os

        serve_os(args.target, host=args.host, port=args.port)
