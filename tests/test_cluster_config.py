"""`cluster.yaml` (Ray's cluster launcher, local provider) and the head's scripts in deploy/cluster/.

Ray's own validation (what `ray up` checks before SSH), then what Ray cannot check: restarts, what is
synced, how nodes install, the token, `kern serve` and PostgreSQL on the head, the ports. The scripts'
checks and restarts run for real here, against a stand-in for `kern serve`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.autoscaler._private.command_runner import SSHCommandRunner
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG: dict[str, Any] = yaml.safe_load((ROOT / "cluster.yaml").read_text())
CONFIG_TEXT = (ROOT / "cluster.yaml").read_text()
KERN_SERVE_SH = ROOT / "deploy" / "cluster" / "kern-serve.sh"
POSTGRES_SH = ROOT / "deploy" / "cluster" / "postgres.sh"
RAY = "~/kern/.venv/bin/ray"


def commands(section: str) -> list[str]:
    """The commands of one section, each as one line."""
    return [" ".join(command.split()) for command in CONFIG[section]]


def ray_start(section: str) -> str:
    """The one `ray start` command of a section."""
    found = [command for command in commands(section) if f"{RAY} start" in command]
    assert len(found) == 1, f"{section} should run `{RAY} start` once, found {found}"
    return found[0]


def flags(command: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+)=(\S+)", command))


def makefile_uv_pin() -> str:
    found = re.search(r"uv==([0-9.]+)", (ROOT / "Makefile").read_text())
    assert found, "the Makefile should pin uv (uv==X.Y.Z)"
    return found.group(1)


def git_kept_top_level() -> set[str]:
    """The top-level names of what git would commit (tracked, or new and not ignored)."""
    kept = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name.split("/")[0] for name in kept}


def test_cluster_yaml_is_a_valid_local_provider_config() -> None:
    assert CONFIG["provider"]["type"] == "local", "cluster.yaml is for Ray's local provider"
    prepared = prepare_config(copy.deepcopy(CONFIG))
    validate_config(prepared)
    assert set(prepared["available_node_types"]) == {"local.cluster.node"}


@pytest.mark.parametrize("section", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_ray_is_stopped_before_it_starts(section: str) -> None:
    """As in Ray's local defaults, so that a second `ray up` restarts Ray instead of failing."""
    first = commands(section)[0]
    assert first == f"{RAY} stop", f"{section} should begin with `{RAY} stop`, begins with {first!r}"


@pytest.mark.parametrize("section", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_ray_starts_with_token_auth_normal_priority_and_fixed_ports(section: str) -> None:
    command = ray_start(section)
    for setting in ("RAY_AUTH_MODE=token", "RAY_worker_niceness=0"):
        assert setting in command.split(), f"{section}: `ray start` runs without {setting}"
    ports = {name: value for name, value in flags(command).items() if name.endswith("port")}
    head_ports = {k: v for k, v in flags(ray_start("head_start_ray_commands")).items() if k.endswith("port")}
    head_ports.pop("port")
    assert ports.items() >= head_ports.items(), f"{section}: ports differ from the head's: {ports}"
    for name in ("node-manager-port", "object-manager-port", "min-worker-port", "max-worker-port"):
        assert name in ports, f"{section}: --{name} is left to chance, so no firewall can name it"


def test_every_fixed_port_is_listed_in_the_comments() -> None:
    listed = CONFIG_TEXT.split("cluster_name:")[0]
    start = flags(ray_start("head_start_ray_commands"))
    ports = {v for k, v in start.items() if k.endswith("port") and not k.endswith("-worker-port")}
    ports |= {f"{start['min-worker-port']}-{start['max-worker-port']}", "7777", "5432"}
    for port in ports:
        assert re.search(rf"^#\s+{port}\s", listed, re.M), f"port {port} is not in cluster.yaml's list"


def test_the_checkout_is_synced_without_environments_caches_or_history() -> None:
    excluded = CONFIG["rsync_exclude"]
    assert ".gitignore" in CONFIG["rsync_filter"], "rsync_filter should read .gitignore files"
    # What git would not commit (ignored, or git's own) is not synced either.
    kept = git_kept_top_level()
    ignored = {p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in kept}
    must_skip = {".venv", ".tools", ".git", "__pycache__", ".pytest_cache", ".mypy_cache"} | ignored
    for name in sorted(must_skip):
        assert any(fnmatch(name, pattern.removeprefix("**/")) for pattern in excluded), (
            f"{name} would be synced to every node: add it to rsync_exclude"
        )
    assert CONFIG["file_mounts"]["~/kern"] == ".", "the checkout should be mounted at ~/kern"


@pytest.mark.skipif(shutil.which("rsync") is None, reason="no rsync here")
def test_rsync_with_rays_own_arguments_sends_what_git_keeps(tmp_path: Path) -> None:
    options = {"rsync_exclude": CONFIG["rsync_exclude"], "rsync_filter": CONFIG["rsync_filter"]}
    arguments = SSHCommandRunner._create_rsync_filter_args(None, options)  # uses no state of the runner
    subprocess.run(["rsync", "-az", *arguments, f"{ROOT}/", f"{tmp_path}/"], check=True, timeout=60)
    sent = {p.name for p in tmp_path.iterdir()}
    assert sent == git_kept_top_level(), f"synced beyond what git keeps: {sent ^ git_kept_top_level()}"
    cached = [p for p in tmp_path.rglob("*") if p.name in ("__pycache__", ".venv", ".git")]
    assert not cached, f"synced: {cached[:3]}"


def test_nodes_install_from_the_lock_file_with_pinned_uv_and_python() -> None:
    setup = commands("setup_commands")
    joined = "\n".join(setup)
    assert f"uv=={makefile_uv_pin()}" in joined, "nodes should install the uv the Makefile pins"
    syncs = [command for command in setup if "uv sync" in command]
    assert syncs, "nodes should install with `uv sync`"
    for command in syncs:
        for flag in ("--frozen", "--no-dev", "--managed-python"):
            assert flag in command.split(), f"`uv sync` without {flag}: {command}"
        python = re.search(r"--python (\S+)", command)
        assert python and re.fullmatch(r"3\.11\.\d+", python.group(1)), (
            f"`uv sync` should pin Python 3.11.x exactly (Ray compares patch versions): {command}"
        )
    assert "pip install -e" not in joined and "pip install ray" not in joined, "Ray must come from uv.lock"
    lock = (ROOT / "uv.lock").read_text()
    assert re.search(r'name = "ray"\nversion = "\d+\.\d+\.\d+"', lock), "uv.lock should pin one Ray"


def test_the_ray_token_is_copied_checked_and_its_creation_documented() -> None:
    assert CONFIG["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token", "the token is not copied"
    assert any("test -s ~/.ray/auth_token" in c for c in commands("setup_commands")), (
        "setup_commands should stop when the token is missing or empty"
    )
    assert "ray get-auth-token --generate" in CONFIG_TEXT, "cluster.yaml does not say how to make a token"
    spec = importlib.util.find_spec("ray")
    assert spec and spec.submodule_search_locations
    scripts = (Path(spec.submodule_search_locations[0]) / "scripts" / "scripts.py").read_text()
    assert re.search(r'name="get-auth-token"\)\n@click\.option\(\s*"--generate"', scripts), (
        "the pinned Ray has no `ray get-auth-token --generate`: fix the instructions"
    )


def test_kern_serve_and_postgres_are_started_on_the_head() -> None:
    assert commands("head_setup_commands") == ["bash ~/kern/deploy/cluster/postgres.sh"], "no PostgreSQL step"
    start = commands("head_start_ray_commands")
    assert start[-1] == "bash ~/kern/deploy/cluster/kern-serve.sh", "kern serve should start after Ray"
    assert CONFIG["file_mounts"]["~/.kern/serve.env"] == "~/.kern/serve.env", "serve.env is not copied"
    serve = KERN_SERVE_SH.read_text()
    assert re.search(r"kern serve --host 0\.0\.0\.0 --port \"\$PORT\"", serve), "not on 0.0.0.0:$PORT"
    assert 'PORT="${KERN_SERVE_PORT:-7777}"' in serve, "kern serve's port is not 7777"
    assert "RAY_ADDRESS=auto RAY_AUTH_MODE=token" in serve, "kern serve does not attach with token auth"
    postgres = POSTGRES_SH.read_text()
    assert "apt-get install -y -qq postgresql" in postgres, "PostgreSQL is not installed from Debian"
    assert "scram-sha-256" in postgres, "PostgreSQL logins are not scram-sha-256"
    for script in (KERN_SERVE_SH, POSTGRES_SH):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, f"{script.name} is not bash"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STAND_IN = """#!{python}
# Stands in for `kern serve`: records how it was started, answers /health.
import http.server, json, os, sys
with open(os.environ["STAND_IN_RECORD"], "a") as record:
    keys = ("RAY_ADDRESS", "RAY_AUTH_MODE", "OS_SECURITY_KEY", "KERN_DB_URL")
    record.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(),
                              "env": {{k: os.environ.get(k) for k in keys}}}}) + "\\n")
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
port = int(sys.argv[sys.argv.index("--port") + 1])
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


@pytest.fixture
def head(tmp_path: Path) -> dict[str, str]:
    """A head's home for kern-serve.sh: the checkout's .venv holds the stand-in; env for the script."""
    bin_dir = tmp_path / "kern" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    stand_in = bin_dir / "kern"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KERN_DIR": str(tmp_path / "kern"),
        "KERN_SERVE_ENV": str(tmp_path / "serve.env"),
        "KERN_SERVE_PORT": str(free_port()),
        "STAND_IN_RECORD": str(tmp_path / "record.jsonl"),
    }


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_kern_serve_restarts_cleanly_when_ray_up_runs_again(head: dict[str, str]) -> None:
    Path(head["KERN_SERVE_ENV"]).write_text(
        "OS_SECURITY_KEY=s3cret\nKERN_DB_URL=postgresql://k:p@h/db\nKERN_SERVE_TARGET=my_app:agent_os\n"
    )
    record = Path(head["STAND_IN_RECORD"])
    started: list[int] = []
    try:
        for _ in range(2):
            result = run_script(KERN_SERVE_SH, head)
            assert result.returncode == 0, result.stderr
            started = [json.loads(line)["pid"] for line in record.read_text().splitlines()]
        first, second = started
        deadline = time.monotonic() + 5
        while alive(first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(first), "the second run left the first kern serve running"
        assert alive(second)
        assert Path(head["HOME"], "kern-serve.pid").read_text().strip() == str(second)
        last = json.loads(record.read_text().splitlines()[-1])
        assert last["argv"] == [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            head["KERN_SERVE_PORT"],
            "my_app:agent_os",
        ]
        assert last["env"] == {
            "RAY_ADDRESS": "auto",
            "RAY_AUTH_MODE": "token",
            "OS_SECURITY_KEY": "s3cret",
            "KERN_DB_URL": "postgresql://k:p@h/db",
        }
    finally:
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ("KERN_DB_URL=postgresql://k:p@h/db\n", "OS_SECURITY_KEY is not set"),
        ("OS_SECURITY_KEY=s3cret\nKERN_DB_URL=sqlite:///kern.db\n", "KERN_DB_URL"),
    ],
)
def test_kern_serve_refuses_to_start_without_its_key_or_postgres(
    head: dict[str, str], settings: str, complaint: str
) -> None:
    Path(head["KERN_SERVE_ENV"]).write_text(settings)
    result = run_script(KERN_SERVE_SH, head)
    assert result.returncode == 1 and complaint in result.stderr, result.stderr
    assert not Path(head["STAND_IN_RECORD"]).exists(), "kern serve was started anyway"


def test_postgres_on_the_head_only_when_asked(head: dict[str, str], tmp_path: Path) -> None:
    """Without KERN_HEAD_POSTGRES=1 nothing is installed; with it, a URL it cannot serve stops it early."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "sudo").write_text("#!/bin/sh\necho sudo was run >&2\nexit 9\n")
    (fake_bin / "sudo").chmod(0o755)
    env = {**head, "PATH": f"{fake_bin}:{head['PATH']}"}
    Path(env["KERN_SERVE_ENV"]).write_text("KERN_DB_URL=postgresql://k:p@db.example/kern\n")
    result = run_script(POSTGRES_SH, env)
    assert result.returncode == 0 and "sudo" not in result.stderr, result.stderr
    Path(env["KERN_SERVE_ENV"]).write_text(
        "KERN_HEAD_POSTGRES=1\nKERN_DB_URL=postgresql://k@10.0.0.10/kern\n"
    )
    result = run_script(POSTGRES_SH, env)
    assert result.returncode == 1 and "password" in result.stderr and "sudo" not in result.stderr
