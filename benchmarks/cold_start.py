"""Cold start: a fresh Python process runs a one-member team; time from process start to first content.

    .venv/bin/python benchmarks/cold_start.py [--reps 3] [--agno-python /tmp/agno-venv/bin/python]

Rows: kern without a cluster (the script's `ray.init()` starts Ray), kern with `kern up` running (a fresh
cluster per repetition: the first script finds no actors, the second the first one's, a third a new team
on the warm cluster), and Agno. `kern model-server` runs in its own process; `kern up` uses a temporary
KERN_HOME (never the user's cluster) and `kern down` always runs. Prints Markdown: medians (and p90).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ModelServerProcess, Sample, fmt_sample, log, table  # noqa: E402

KERN_PYTHON = str(Path(sys.executable))
SCRIPT = str(HERE / "cold_start_script.py")
SCRIPT_TIMEOUT = 180.0


def run_script(
    python: str, framework: str, admin: Any, env: dict[str, str], team: str
) -> dict[str, Any] | None:
    """One fresh process; its stamps plus the spawn time and the model requests it made."""
    admin.clear_requests()
    spawn = time.time()
    try:
        done = subprocess.run(
            [python, SCRIPT, framework, admin.base_url, team],
            env=env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            cwd=HERE,
        )
    except subprocess.TimeoutExpired:
        log(f"{framework} script timed out after {SCRIPT_TIMEOUT:.0f} s")
        return None
    if done.returncode != 0 or not done.stdout.strip():
        log(f"{framework} script failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return None
    stamps: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    stamps.update(spawn=spawn, exited=time.time())
    stamps["requests"] = sorted(admin.requests(), key=lambda r: r["started_at"])
    return stamps


def kern_cli(env: dict[str, str], *args: str) -> float:
    """`kern up` / `kern down` as a user runs them; seconds taken."""
    start = time.perf_counter()
    subprocess.run([KERN_PYTHON, "-m", "kern", *args], env=env, check=True, timeout=180, capture_output=True)
    return time.perf_counter() - start


SEGMENTS = [
    ("python start + imports", "spawn", "imported"),
    ("Ray: `ray.init()` / attach", "imported", "attached"),
    ("run call -> team run started in its actor", "call", "TeamRunStarted"),
    ("-> leader's model request reaches the server", "TeamRunStarted", "leader_start"),
    ("leader's model call (delegation tool call)", "leader_start", "leader_end"),
    ("-> member run started in its actor", "leader_end", "RunStarted"),
    ("member started -> first content received", "RunStarted", "first_content"),
]


def add_stamps(samples: dict[str, Sample], stamps: dict[str, Any] | None) -> None:
    """The total and, for kern, where it went (wall clocks of the script, the actors and the server)."""
    total = samples.setdefault("total", Sample("s"))
    if stamps is None or "first_content" not in stamps:
        total.add(None)
        return
    total.add(stamps["first_content"] - stamps["spawn"])
    requests = stamps.get("requests") or []
    if requests:
        stamps.update(leader_start=requests[0]["started_at"], leader_end=requests[0]["finished_at"])
    for label, start, end in SEGMENTS:
        if start in stamps and end in stamps:
            samples.setdefault(label, Sample("s")).add(stamps[end] - stamps[start])
    if "attached" not in stamps:  # Agno
        samples.setdefault("run call -> first content", Sample("s")).add(
            stamps["first_content"] - stamps["call"]
        )


def script_env(kern_home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "KERN_DB_URL", "OPENAI_BASE_URL")}
    env.update(KERN_HOME=kern_home, RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "token"), AGNO_TELEMETRY="false")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--agno-python", default=os.environ.get("AGNO_PYTHON"))
    args = parser.parse_args()
    rows: dict[str, dict[str, Sample]] = {}
    up_seconds = Sample("s")
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="kern-cold-") as tmp,
        ModelServerProcess(str(Path(sys.executable).parent / "kern")) as admin,
    ):
        no_cluster = script_env(str(Path(tmp) / "no-cluster"))
        with_cluster = script_env(str(Path(tmp) / "home"))
        try:
            for rep in range(args.reps):
                log(f"repetition {rep + 1}/{args.reps}")
                if args.agno_python:
                    stamps = run_script(args.agno_python, "agno", admin, no_cluster, "Cold Team")
                    add_stamps(rows.setdefault("Agno 3.1.10 (one process)", {}), stamps)
                stamps = run_script(KERN_PYTHON, "kern", admin, no_cluster, f"Cold Team {rep}")
                add_stamps(rows.setdefault("kern, no cluster (script starts Ray)", {}), stamps)
                up_seconds.add(kern_cli(with_cluster, "up"))
                try:
                    for label, team in [
                        ("kern up, 1st script (actors cold)", "Team A"),
                        ("kern up, 2nd script (actors warm)", "Team A"),
                        ("kern up, 3rd script, another team (new actors)", "Team B"),
                    ]:
                        add_stamps(
                            rows.setdefault(label, {}),
                            run_script(KERN_PYTHON, "kern", admin, with_cluster, team),
                        )
                finally:
                    kern_cli(with_cluster, "down")
        finally:
            kern_cli(with_cluster, "down")
    load = f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print_tables(rows, up_seconds, f"median (p90) of {args.reps}; {load}")


def print_tables(rows: dict[str, dict[str, Sample]], up_seconds: Sample, note: str) -> None:
    print(f"\n### Cold start: process start -> first content, one-member team (s; {note})\n")
    print(table(["", "first content"], [[label, fmt_sample(s.get("total"))] for label, s in rows.items()]))
    print(f"\n`kern up` itself (once, before the scripts): {fmt_sample(up_seconds)} s\n")
    labels = [label for label, _, _ in SEGMENTS] + ["run call -> first content"]
    columns = list(rows)
    body = []
    for label in labels:
        cells = [fmt_sample(rows[c].get(label)) if label in rows[c] else "-" for c in columns]
        if any(cell != "-" for cell in cells):
            body.append([label, *cells])
    print("### Where the time goes (s, median)\n")
    print(table(["segment", *columns], body))
    totals = {c: statistics.median(rows[c]["total"].values) for c in columns if rows[c]["total"].values}
    print("\n" + json.dumps({"medians_s": totals}))


if __name__ == "__main__":
    main()
