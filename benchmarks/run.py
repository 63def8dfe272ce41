"""kern's benchmarks: Ray streaming floor, agent, team, and Agno in one process, on this machine.

    make bench                                   # or: .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --quick   # about a minute
    .venv/bin/python benchmarks/run.py --agno-python /tmp/agno-venv/bin/python --json results.json

Starts one local Ray (2 CPUs) and the local model server in a separate process, prints Markdown tables
(median and p90 over the repetitions), and shuts both down. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.pop("KERN_DB_URL", None)  # measure the streaming path, not a database
os.environ.setdefault("OPENAI_API_KEY", "kern-bench")

import common  # noqa: E402
import cpu_profile  # noqa: E402
import event_costs  # noqa: E402
import kern_bench  # noqa: E402
import ray  # noqa: E402
import ray.cloudpickle  # noqa: E402
import ray_floor  # noqa: E402
import scenarios  # noqa: E402
from common import ModelServerProcess, Sample, fmt_sample, log, table  # noqa: E402

for module in (common, scenarios, ray_floor, kern_bench, cpu_profile):
    ray.cloudpickle.register_pickle_by_value(module)  # the actors and the slow tool travel by value


def agno_results(python: str, admin: common.ServerAdmin, reps: int) -> tuple[dict[str, Sample], str]:
    command = [python, str(HERE / "agno_baseline.py"), "--base-url", admin.base_url, "--reps", str(reps)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(f"agno_baseline.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: Sample.from_dict(v) for k, v in payload["results"].items()}, payload["agno_version"]


def sum_samples(*samples: Sample | None) -> Sample | None:
    """One-value samples added up (the CPU rows)."""
    present = [s for s in samples if s is not None and s.values]
    if not present:
        return None
    return Sample(present[0].unit, [sum(s.median for s in present)])


def ratio(a: Sample | None, b: Sample | None) -> str:
    if a is None or b is None or not a.values or not b.values or not b.median:
        return "-"
    return f"{a.median / b.median:.2f}x"


def disconnects(sample: Sample | None) -> str:
    if sample is None:
        return "-"
    total = len(sample.values) + sample.failures
    text = f"{len(sample.values)}/{total}"
    if sample.values:
        text += f", {sample.median:.1f} ms after the cancel call"
    if sample.note:
        text += f" {sample.note}"
    return text


def render(r: dict[str, Sample], agno: dict[str, Sample] | None, agno_note: str) -> str:
    g = r.get
    parts = [
        "## 1. Raw Ray streaming floor (no kern)",
        table(
            ["Measurement", "Ray 2.60, median (p90)"],
            [
                ["async actor -> driver, 1 item per object (items/s)", fmt_sample(g("ray:direct_1"))],
                ["actor -> relay actor -> driver, 1 item per object (items/s)", fmt_sample(g("ray:relay_1"))],
                ["async actor -> driver, 16 items per object (items/s)", fmt_sample(g("ray:direct_16"))],
                [
                    "actor -> relay actor -> driver, 16 items per object (items/s)",
                    fmt_sample(g("ray:relay_16")),
                ],
                ["call -> first streamed item at the driver (ms)", fmt_sample(g("ray:first_item"))],
                [
                    "`ray.cancel` (2nd thread) -> driver sees the end, actor yielding every 20 ms (ms)",
                    fmt_sample(g("ray:cancel_streaming")),
                ],
                [
                    "`ray.cancel` (2nd thread) -> driver sees the end, actor awaiting a sleep (ms)",
                    fmt_sample(g("ray:cancel_stalled")),
                ],
            ],
        ),
    ]
    parts += [
        "## 2. Agent (agent actor -> caller)",
        table(
            ["Measurement", "kern", "Baseline", "Baseline is"],
            [
                [
                    "content events/s at the caller (5000 one-word deltas, model as fast as possible)",
                    fmt_sample(g("agent:events_per_s")),
                    fmt_sample(g("sdk:events_per_s")),
                    "model server read with the openai SDK in this process (ceiling)",
                ],
                [
                    "events per Ray object, agent actor -> caller (mean, read from outside)",
                    fmt_sample(g("agent:events_per_object")),
                    fmt_sample(g("ray:direct_16")),
                    "Ray floor at 16 items per object (items/s): transport is not the limit",
                ],
                [
                    "warm: `run()` -> `RunStarted` (ms)",
                    fmt_sample(g("agent:first_event")),
                    fmt_sample(g("ray:first_item")),
                    "Ray: call -> first streamed item",
                ],
                [
                    "warm: `run()` -> first `RunContent` (ms)",
                    fmt_sample(g("agent:first_content")),
                    fmt_sample(g("sdk:first_content")),
                    "openai SDK: request -> first text delta",
                ],
                [
                    f"cancel (2nd thread) -> `RunCancelled`, streaming at {kern_bench.STREAM_TPS} tok/s (ms)",
                    fmt_sample(g("agent:cancel_streaming:RunCancelled")),
                    fmt_sample(g("ray:cancel_streaming")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel (2nd thread) -> `RunCancelled`, model stalled before its first token (ms)",
                    fmt_sample(g("agent:cancel_stalled:RunCancelled")),
                    fmt_sample(g("ray:cancel_stalled")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    'model server logged "disconnected" (streaming)',
                    disconnects(g("agent:cancel_streaming:disconnected")),
                    "",
                    "",
                ],
                [
                    'model server logged "disconnected" (stalled)',
                    disconnects(g("agent:cancel_stalled:disconnected")),
                    "",
                    "",
                ],
            ],
        ),
    ]
    parts += [
        "## 3. Team (leader + 2 members, coordinate mode: member actor -> team actor -> caller)",
        table(
            ["Measurement", "kern", "Baseline", "Baseline is"],
            [
                [
                    "member content events/s at the caller",
                    fmt_sample(g("team:events_per_s")),
                    fmt_sample(g("agent:events_per_s")),
                    "kern agent, one hop less (table 2)",
                ],
                [
                    "events per Ray object, team actor -> caller (mean)",
                    fmt_sample(g("team:events_per_object")),
                    fmt_sample(g("agent:events_per_object")),
                    "agent actor -> caller",
                ],
                [
                    "warm: `run()` -> `TeamRunStarted` (ms)",
                    fmt_sample(g("team:first_event")),
                    fmt_sample(g("agent:first_event")),
                    "kern agent -> `RunStarted`",
                ],
                [
                    "warm: `run()` -> first member `RunContent` (ms)",
                    fmt_sample(g("team:first_member_content")),
                    fmt_sample(g("agent:first_content")),
                    "kern agent -> first `RunContent`",
                ],
                [
                    "cancel -> member `RunCancelled`, member streaming (ms)",
                    fmt_sample(g("team:cancel_streaming:RunCancelled")),
                    fmt_sample(g("ray:cancel_streaming")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel -> `TeamRunCancelled`, member streaming (ms)",
                    fmt_sample(g("team:cancel_streaming:TeamRunCancelled")),
                    fmt_sample(g("ray:cancel_streaming")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel -> member `RunCancelled`, member's model stalled (ms)",
                    fmt_sample(g("team:cancel_stalled:RunCancelled")),
                    fmt_sample(g("ray:cancel_stalled")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel -> `TeamRunCancelled`, member's model stalled (ms)",
                    fmt_sample(g("team:cancel_stalled:TeamRunCancelled")),
                    fmt_sample(g("ray:cancel_stalled")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel -> member `RunCancelled`, member in a 30 s async tool (ms)",
                    fmt_sample(g("team:cancel_tool:RunCancelled")),
                    fmt_sample(g("ray:cancel_stalled")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    "cancel -> `TeamRunCancelled`, member in a 30 s async tool (ms)",
                    fmt_sample(g("team:cancel_tool:TeamRunCancelled")),
                    fmt_sample(g("ray:cancel_stalled")),
                    "`ray.cancel` -> stream end",
                ],
                [
                    'model server logged "disconnected" (member streaming)',
                    disconnects(g("team:cancel_streaming:disconnected")),
                    "",
                    "",
                ],
                [
                    'model server logged "disconnected" (member stalled)',
                    disconnects(g("team:cancel_stalled:disconnected")),
                    "",
                    "",
                ],
            ],
        ),
    ]
    parts.append("## 4. Agno in one process (same scenarios, same model server)")
    agno_table = render_agno(r, agno, agno_note)
    parts.append(agno_table)
    parts += ["## 5. Where the time goes (kern)", render_profile(r)]
    return "\n\n".join(parts)


def render_profile(r: dict[str, Sample]) -> str:
    parts = []
    for prefix, title in (
        ("agent:cpu:", "Agent, fast stream: CPU per content event, by process"),
        ("team:cpu:", "Team, fast stream: CPU per member content event, by process"),
    ):
        rows = [
            [key.removeprefix(prefix), fmt_sample(v)]
            for key, v in r.items()
            if key.startswith(prefix) and v.median >= 0.5
        ]
        if rows:
            parts.append(table([title, "us per event (share of one core)"], rows))
    for prefix, title in (
        ("agent:breakdown:", "Agent, warm `run()` -> first `RunContent` (ms)"),
        ("team:breakdown:", "Team, warm `run()` -> first member `RunContent` (ms)"),
    ):
        rows = [[key.removeprefix(prefix), fmt_sample(v)] for key, v in r.items() if key.startswith(prefix)]
        if rows:
            parts.append(
                table([title + ", wall clocks of caller, actors and model server", "median (p90)"], rows)
            )
    steps = (
        ("construct", "build in the run loop (us)"),
        ("serialise", f"serialise, in a batch of {event_costs.BATCH} (cloudpickle, as Ray does) (us)"),
        ("deserialise", "deserialise at the receiver (us)"),
        ("decode", "decode into the caller's `RunContentEvent` (us)"),
        ("bytes", "bytes per event on the wire"),
    )
    costs = [
        [label, fmt_sample(r.get(f"events:event {key}")), fmt_sample(r.get(f"events:frame {key}"))]
        for key, label in steps
    ]
    parts.append(table(["Per content event", "pydantic event", "frame (links)"], costs))
    return "\n\n".join(parts)


def render_agno(r: dict[str, Sample], agno: dict[str, Sample] | None, agno_note: str) -> str:
    g = r.get
    parts: list[str] = []
    if agno is None:
        parts.append(agno_note)
    else:
        a = agno.get
        rows = [
            ["agent: content events/s at the caller", "agent:events_per_s"],
            ["agent: `RunStarted` (ms)", "agent:first_event"],
            ["agent: first `RunContent` (ms)", "agent:first_content"],
            ["agent: cancel -> `RunCancelled`, streaming (ms)", "agent:cancel_streaming:RunCancelled"],
            ["agent: cancel -> `RunCancelled`, model stalled (ms)", "agent:cancel_stalled:RunCancelled"],
            ["team: member content events/s at the caller", "team:events_per_s"],
            ["team: `TeamRunStarted` (ms)", "team:first_event"],
            ["team: first member `RunContent` (ms)", "team:first_member_content"],
            [
                "team: cancel -> member `RunCancelled`, member streaming (ms)",
                "team:cancel_streaming:RunCancelled",
            ],
            [
                "team: cancel -> `TeamRunCancelled`, member streaming (ms)",
                "team:cancel_streaming:TeamRunCancelled",
            ],
            [
                "team: cancel -> member `RunCancelled`, member's model stalled (ms)",
                "team:cancel_stalled:RunCancelled",
            ],
            [
                "team: cancel -> `TeamRunCancelled`, member's model stalled (ms)",
                "team:cancel_stalled:TeamRunCancelled",
            ],
            [
                "team: cancel -> member `RunCancelled`, member in a 30 s async tool (ms)",
                "team:cancel_tool:RunCancelled",
            ],
            [
                "team: cancel -> `TeamRunCancelled`, member in a 30 s async tool (ms)",
                "team:cancel_tool:TeamRunCancelled",
            ],
        ]
        body = [[label, fmt_sample(g(key)), fmt_sample(a(key)), ratio(g(key), a(key))] for label, key in rows]
        body.insert(
            1,
            [
                "agent: CPU per content event in the process that reads the model stream (us)",
                fmt_sample(g("agent:cpu:agent actor (SDK parsing, run loop, events)")),
                fmt_sample(a("agent:cpu_us_per_event")),
                ratio(
                    g("agent:cpu:agent actor (SDK parsing, run loop, events)"), a("agent:cpu_us_per_event")
                ),
            ],
        )
        team_cpu = sum_samples(
            g("team:cpu:agent actor (SDK parsing, run loop, events)"),
            g("team:cpu:team actor (relay of member batches)"),
            g("team:cpu:caller (this process: client, flattening)"),
            g("team:cpu:other Ray processes (raylet, GCS, supervisor, ...)"),
        )
        body.insert(
            7,
            [
                "team: CPU per member content event, all kern processes / Agno's process (us)",
                fmt_sample(team_cpu),
                fmt_sample(a("team:cpu_us_per_event")),
                ratio(team_cpu, a("team:cpu_us_per_event")),
            ],
        )
        body += [
            [
                'agent: model server logged "disconnected" after cancel (streaming / stalled)',
                f"{disconnects(g('agent:cancel_streaming:disconnected'))} / "
                f"{disconnects(g('agent:cancel_stalled:disconnected'))}",
                f"{disconnects(a('agent:cancel_streaming:disconnected'))} / "
                f"{disconnects(a('agent:cancel_stalled:disconnected'))}",
                "",
            ],
        ]
        parts += [agno_note, table(["Measurement", "kern", "Agno", "kern / Agno"], body)]
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute)")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (default 5, --quick 2)")
    parser.add_argument("--json", metavar="PATH", help="also write every sample to this JSON file")
    parser.add_argument(
        "--agno-python",
        default=os.environ.get("AGNO_PYTHON"),
        help="an interpreter with Agno installed (never the project's .venv); env AGNO_PYTHON",
    )
    parser.add_argument(
        "--only",
        choices=["ray", "agent", "team"],
        action="append",
        help="run only these tables (repeatable); Agno runs when --agno-python is given",
    )
    args = parser.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    items = 1000 if args.quick else 2000
    only = set(args.only or ["ray", "agent", "team"])
    kern_cli = str(Path(sys.executable).with_name("kern"))

    started = time.perf_counter()
    results: dict[str, Sample] = {}
    agno: dict[str, Sample] | None = None
    agno_note = "Agno baseline: skipped (pass --agno-python)"
    server = ModelServerProcess(kern_cli)
    load_before = os.getloadavg()
    with server as admin:
        pid = server.process.pid if server.process else None
        log(f"model server on {admin.base_url}; reps={reps}")
        ray.init(num_cpus=2, include_dashboard=False, namespace="kern", log_to_driver=False)
        try:
            if "ray" in only:
                log("1/4 raw Ray streaming floor ...")
                results.update({f"ray:{k}": v for k, v in ray_floor.run(reps, items).items()})
            if "agent" in only:
                log("2/4 agent ...")
                results.update(kern_bench.run_agent(admin, reps, pid))
            if "team" in only:
                log("3/4 team ...")
                results.update(kern_bench.run_team(admin, reps, pid))
            results.update({f"events:{k}": v for k, v in event_costs.run(reps).items()})
        finally:
            ray.shutdown()
            time.sleep(2)  # let Ray's processes go before the Agno baseline runs
        if args.agno_python:
            log("4/4 Agno in one process ...")
            agno, version = agno_results(args.agno_python, admin, reps)
            agno_note = (
                f"Agno {version}, `run(stream=True, stream_events=True)` in the benchmark's own process "
                "(the tool case with `arun`); cancels with `cancel_run` from a second thread."
            )
    elapsed = time.perf_counter() - started
    header = (
        f"kern benchmarks, {datetime.date.today().isoformat()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}; medians (p90) over {reps} "
        f"repetitions; {elapsed:.0f} s; load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(header + "\n\n" + render(results, agno, agno_note), flush=True)
    if args.json:
        payload = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "reps": reps,
            "seconds": elapsed,
            "kern": {k: v.as_dict() for k, v in results.items()},
            "agno": None if agno is None else {k: v.as_dict() for k, v in agno.items()},
        }
        Path(args.json).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
