"""Concurrency sweep: N team runs at once at 20 tokens/s, 10 % cancelled, kern against Agno in one run.

    .venv/bin/python benchmarks/concurrency.py                     # N = 10, 100, 200, 500
    .venv/bin/python benchmarks/concurrency.py --quick             # N = 10, 100
    .venv/bin/python benchmarks/concurrency.py --runs 200 --json out.json --agno-python PYTHON

Starts the local model server once (its own process), then runs each side in its own subprocess
(`concurrency_side.py`: kern with one actor per component, kern with replicas, each on its own local
Ray, then Agno in one process), all against that server, and prints Markdown tables: cancel ->
`TeamRunCancelled`, worst gap between two content events of a run, first content (p50 / p99), run
outcomes, content events/s, CPU of every process of each side (from /proc), its busiest process, and
memory. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import REPO, ModelServerProcess, fmt_number, log, machine_facts, table, wait_or_kill_group  # noqa: E402

DEFAULT_AGNO_PYTHON = "/tmp/agno-venv/bin/python"


def side_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KERN_DB_URL", None)  # the streaming path, not a database (Agno has none here either)
    env.setdefault("RAY_AUTH_MODE", "token")
    env.setdefault("OPENAI_API_KEY", "kern-bench")
    env.setdefault("AGNO_TELEMETRY", "false")
    return env


def run_side(python: str, side: str, base_url: str, server_pid: int, args: argparse.Namespace) -> dict:
    """One side's sweep in its own process group; killed (group and all) if it overruns."""
    command = [
        python,
        str(HERE / "concurrency_side.py"),
        "--side",
        side,
        "--base-url",
        base_url,
        "--runs",
        ",".join(map(str, args.runs)),
        "--seed",
        str(args.seed),
        "--cancel-fraction",
        str(args.cancel_fraction),
        "--server-pid",
        str(server_pid),
    ]
    if args.step_timeout:
        command += ["--step-timeout", str(args.step_timeout)]
    command += ["--quiet", str(args.quiet), "--quiet-wait", str(args.quiet_wait)]
    step_budget = sum(args.step_timeout or 60.0 + 0.4 * n for n in args.runs)
    # + waiting for quiet, pauses, drains, Ray start, warm-up
    budget = step_budget + (args.quiet_wait + 20.0) * len(args.runs) + 240.0
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=side_env(),
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=40)
    out: list[str] = []
    readers = [
        threading.Thread(target=_progress, args=(process.stderr, tail), daemon=True),
        threading.Thread(target=lambda: out.extend(process.stdout or []), daemon=True),
    ]
    for reader in readers:
        reader.start()
    wait_or_kill_group(process, budget, side)
    for reader in readers:
        reader.join(timeout=5)
    lines = [line for line in out if line.strip()]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{side}: exited with {process.returncode}:\n" + "".join(tail))
    return json.loads(lines[-1])


def _progress(stream: IO[str] | None, tail: deque[str]) -> None:
    """Echo a side's own progress lines; keep the rest (framework noise) for a failure report."""
    for line in stream or []:
        if line.startswith(("[kern]", "[kern-replicas]", "[agno]")):
            log(line.rstrip())
        tail.append(line)


def pair(stats: dict[str, Any] | None, scale: float = 1.0, unit: str = "ms") -> str:
    if not stats or stats.get("p50") is None:
        return "-"
    return f"{fmt_number(stats['p50'] * scale, unit)} / {fmt_number(stats['p99'] * scale, unit)}"


def rows(results: dict[str, dict]) -> list[tuple[int, str, dict]]:
    """(N, side, step) in sweep order, kern before Agno for each N."""
    out = [(step["n"], name, step) for name, data in results.items() for step in data["steps"]]
    order = {name: i for i, name in enumerate(results)}
    return sorted(out, key=lambda row: (row[0], order[row[1]]))


def replicas(step: dict[str, Any]) -> str:
    """The pools a step met: kern-replicas reports them after its warm-up burst; kern has one each."""
    sizes = step.get("replicas")
    if not sizes:
        return "-"
    return f"{sizes.get('team', '?')} / {sizes.get('agent', '?')} (grew in {step['scale_up_s']:.0f} s)"


def render(results: dict[str, dict], info: dict[str, Any], args: argparse.Namespace) -> str:
    versions = {k: v for data in results.values() for k, v in data["versions"].items()}
    header = (
        f"kern concurrency sweep, {info['date'][:10]}, {info['cpus']} CPUs ({info['cpu_model']}, "
        f"{info['mem_gib']} GiB), Python {versions.get('python', info['python'])}, "
        f"Ray {versions.get('ray', '-')}, kern {versions.get('kern', '-')}, "
        f"Agno {versions.get('agno', '-')}; "
        f"team = leader + 1 member (coordinate), model server at 20 tokens/s (member 100 tokens, "
        f"leader 100), N runs at once in one event loop, {args.cancel_fraction:.0%} cancelled at a "
        f"random instant after their first content (seed {args.seed}); {info['seconds']:.0f} s; load "
        f"average {info['load_before']:.1f} before, {info['load_after']:.1f} after"
    )
    main_rows, count_rows, cpu_rows = [], [], []
    for n, side, s in rows(results):
        main_rows.append(
            [
                str(n),
                side,
                pair(s["cancel_ms"]),
                pair(s["worst_gap_ms"]),
                pair(s["first_content_ms"]),
                f"{s['cpu_busy'] * 100:.0f} % ({s['cpu_s']:.1f} s)",
                f"{s['events_per_s']:,.0f}",
                f"{s['peak_rss_mb']:,.0f}",
            ]
        )
        per_run = s["contents_per_completed_run"]
        count_rows.append(
            [
                str(n),
                side,
                str(s["completed"]),
                str(s["cancelled"]),
                str(s["errored"]),
                str(s["stuck"]),
                str(s["bad_terminal"]),
                f"{s['cancels_issued']} / {s['cancels_skipped']} / {s['cancels_missed']}",
                "-" if per_run is None else f"{per_run:.0f}",
                ", ".join(f"{k} {v}" for k, v in s.get("worst_gap_at", {}).items()) or "-",
                pair(s["completed_run_ms"], 0.001, "s"),
                f"{s['wall_s']:.1f}",
                pair(s["cancel_call_ms"]),
            ]
        )
        wall_cores = s["wall_s"] * s["ncores"]
        server = s["server_cpu_s"] or 0.0
        rest = s["machine_cpu_s"] - s["cpu_s"] - server
        top = ", ".join(f"{k} {v:.1f}" for k, v in list(s["cpu_by_process"].items())[:6] if v >= 0.05)
        cpu_rows.append(
            [
                str(n),
                side,
                f"{s['cpu_s']:.1f}",
                f"{server:.1f} ({server / s['wall_s'] * 100:.0f} % of a core)",
                f"{rest:.1f} ({rest / wall_cores * 100:.0f} %)",
                f"{s.get('machine_busy_before', 0) * 100:.0f} % / {s['machine_busy'] * 100:.0f} %",
                "{} ({:.1f} s, {:.0f} % of a core)".format(
                    s["busiest_process"][0],
                    s["busiest_process"][1],
                    s["busiest_process"][1] / s["wall_s"] * 100,
                ),
                replicas(s),
                top or "-",
            ]
        )
    notes = [
        f"- {side}, N={s['n']}: {key} {', '.join(s[key])}"
        for _, side, s in rows(results)
        for key in ("errors", "stuck_tails", "bad_terminal_examples")
        if s.get(key)
    ]
    parts = [
        header,
        "### Latency, CPU, throughput",
        table(
            [
                "N runs",
                "side",
                "cancel -> `TeamRunCancelled` p50 / p99 (ms)",
                "worst gap p50 / p99 (ms)",
                "first content p50 / p99 (ms)",
                f"CPU busy ({info['cpus']} cores, CPU s)",
                "content events/s",
                "peak RSS (MiB)",
            ],
            main_rows,
        ),
        "### Outcomes",
        table(
            [
                "N runs",
                "side",
                "completed",
                "cancelled",
                "errored",
                "stuck",
                "not exactly one team terminal",
                "cancels issued / skipped (run over) / missed (completed anyway)",
                "content events per completed run",
                "worst gap of a run was (runs)",
                "completed run p50 / p99 (s)",
                "step wall (s)",
                "`acancel_run` returns p50 / p99 (ms)",
            ],
            count_rows,
        ),
        "### Where the CPU goes",
        table(
            [
                "N runs",
                "side",
                "side CPU s (all its processes)",
                "model server CPU s (shared)",
                "rest of the machine CPU s (not this benchmark)",
                "machine busy before / during",
                "busiest process",
                "replicas (team / member)",
                "side CPU s by process",
            ],
            cpu_rows,
        ),
    ]
    if notes:
        parts += ["Notes:\n" + "\n".join(notes)]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=lambda s: [int(x) for x in s.split(",")], help="N values (default 10,100,200,500)"
    )
    parser.add_argument("--quick", action="store_true", help="N = 10, 100")
    parser.add_argument(
        "--sides",
        default="kern,kern-replicas,agno",
        help="which sides, in order: kern (one actor per component), kern-replicas (pools grow with "
        "the load), agno (default: all three)",
    )
    parser.add_argument(
        "--agno-python",
        default=os.environ.get("AGNO_PYTHON", DEFAULT_AGNO_PYTHON),
        help="an interpreter with Agno (never the project's .venv); env AGNO_PYTHON",
    )
    parser.add_argument("--seed", type=int, default=1, help="which runs are cancelled, and when")
    parser.add_argument("--cancel-fraction", type=float, default=0.1)
    parser.add_argument("--step-timeout", type=float, help="seconds per N (default 60 + 0.4 N)")
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.25,
        help="before each step, wait until the machine is less busy than this (default 0.25)",
    )
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="...for at most this many s")
    parser.add_argument("--json", metavar="PATH", help="also write every number to this JSON file")
    args = parser.parse_args()
    args.runs = args.runs or ([10, 100] if args.quick else [10, 100, 200, 500])
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if "agno" in sides and not Path(args.agno_python).exists():
        log(f"no Agno interpreter at {args.agno_python}: Agno skipped (pass --agno-python)")
        sides.remove("agno")
    info = machine_facts()
    started = time.perf_counter()
    results: dict[str, dict] = {}
    failures: dict[str, str] = {}
    server = ModelServerProcess(str(Path(sys.executable).with_name("kern")))
    with server as admin:
        server_pid = server.process.pid if server.process else 0
        log(f"model server on {admin.base_url} (pid {server_pid}); N = {args.runs}; sides {sides}")
        for side in sides:
            python = args.agno_python if side == "agno" else sys.executable
            try:
                results[side] = run_side(python, side, admin.base_url, server_pid, args)
            except (RuntimeError, json.JSONDecodeError) as exc:
                failures[side] = str(exc)
                log(f"{side} failed: {exc}")
            time.sleep(2)  # let one side's processes go before the next starts
    info["seconds"] = time.perf_counter() - started
    info["load_after"] = os.getloadavg()[0]
    text = render(results, info, args) if results else "no results"
    if failures:
        text += "\n\n" + "\n".join(f"- {side}: FAILED: {why}" for side, why in failures.items())
    print(text, flush=True)
    if args.json:
        payload = {"machine": info, "args": vars(args), "results": results, "failures": failures}
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
