"""A Ray cluster on this machine whose trials are placed by a custom resource: a worker node
stopped mid-search loses nothing, and its replacement finishes the search."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from nas.store import ResultStore

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

RAY = shutil.which("ray") or os.path.join(os.path.dirname(os.sys.executable), "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ip() -> str:
    # Every node and the driver stay on loopback; the driver learns it from NAS_RAY_NODE_IP.
    return "127.0.0.1"


def _start_node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # `--block` keeps the node's processes in this child's session, so the test can stop
    # exactly this node (and only it) by its process group.
    return subprocess.Popen(
        [RAY, "start", "--block", f"--node-ip-address={_node_ip()}", "--num-cpus=1",
         "--disable-usage-stats", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _stop(node: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.wait(timeout=15)
            return


def _wait_for_nodes(address: str, env: dict[str, str], count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = subprocess.run([RAY, "status", f"--address={address}"], env=env,
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
        if out.count("node_") >= count:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster did not reach {count} nodes:\n{out}")


def _snapshot(store_dir: Path) -> list:
    store = ResultStore(store_dir)
    return store.results() if store.is_present() else []


def test_search_survives_losing_a_node(tmp_path) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    address = f"{_node_ip()}:{port}"
    token = secrets.token_hex(16)
    # Ray starts clusters with token authentication: every node and the client share one.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "NAS_RAY_NODE_IP": _node_ip()}
    env = {**os.environ, **auth}
    temp = tempfile.mkdtemp(prefix="/tmp/nasray")  # short: Ray's socket paths have a limit
    # Every trial reserves one "trial_slot"; only worker nodes have slots (the head has none,
    # and no CPUs), so where trials run is decided by resources, not by the scheduler's mood:
    # on worker A until it is stopped mid-search, then on worker B, which joins after.
    slots = ["--num-cpus=2", '--resources={"trial_slot": 2}']
    head = worker_a = worker_b = None
    try:
        head = _start_node([f"--port={port}", "--head", f"--temp-dir={temp}",
                            "--include-dashboard=false", "--num-cpus=0"], env)  # fmt: skip
        time.sleep(3)
        worker_a = _start_node([f"--address={address}", *slots], env)
        _wait_for_nodes(address, env, 2)

        store_dir = tmp_path / "store"  # where _search_driver puts it
        budget = 8
        stopped: list[list] = []  # the rows stored when worker A was stopped

        def replace_worker_a_once_it_ran_a_trial() -> None:
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                if _snapshot(store_dir):
                    # Two trials share A's two slots: a second later A is training again,
                    # and the stop cuts those trials off.
                    time.sleep(1.0)
                    _stop(worker_a)
                    time.sleep(2.0)  # a result A sent before it stopped lands in the store
                    stopped.append(_snapshot(store_dir))
                    nonlocal worker_b
                    worker_b = _start_node([f"--address={address}", *slots], env)
                    return
                time.sleep(0.5)

        watcher = threading.Thread(target=replace_worker_a_once_it_ran_a_trial, daemon=True)
        watcher.start()
        # The driver runs in its own process: Ray reads RAY_AUTH_MODE when it is imported.
        driver = subprocess.run(
            [os.sys.executable, "-m", "tests.run._search_driver", str(tmp_path), str(budget),
             "--seed", "4", "--epochs", "3", "--address", address, "--max-concurrent", "2",
             "--max-failures", "2", "--trial-resources", '{"trial_slot": 1}'],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
            timeout=550, check=False,
        )  # fmt: skip
        assert driver.returncode == 0, driver.stderr[-3000:]
        watcher.join(timeout=5)
        assert stopped, "no trial finished on worker A"
        before, rows = stopped[0], _snapshot(store_dir)
        # Nothing lost: one row per trial of the budget, each stored once, each a result or a
        # failure that says why; the search state proposed and told exactly these.
        assert len(rows) == budget == len({r.key for r in rows})
        ids = [r.candidate_id for r in rows]
        assert len(set(ids)) == budget and None not in ids
        assert all(
            r.status == "ok"
            or (r.status == "reused" and r.reused_from)
            or (r.status == "failed" and r.error)
            for r in rows
        ), [(r.status, r.error) for r in rows]
        state = json.loads((tmp_path / "run" / "search_state.json").read_text())
        assert sorted(state["told"]) == sorted(ids) == sorted(state["proposals"])
        assert {r.key for r in before} <= {r.key for r in rows}
        # Trials ran on both workers: on A before the stop, on B (only) after it; trials the
        # stop cut off were retried on B.
        a_nodes = {r.node_id for r in before}
        after = [r for r in rows if r.key not in {b.key for b in before} and r.status == "ok"]
        b_nodes = {r.node_id for r in after}
        assert len(a_nodes) == 1 and len(b_nodes) == 1 and a_nodes != b_nodes, (a_nodes, b_nodes)
        assert len(before) < budget
        assert {r.host for r in rows} == {socket.gethostname()}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in (worker_b, worker_a, head):
            if node is not None:
                _stop(node)
        shutil.rmtree(temp, ignore_errors=True)
