"""A two-node Ray cluster on this machine: trials are pinned to both nodes by a custom resource;
stopping one node mid-search loses nothing."""

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


def test_search_on_two_nodes_survives_losing_one(tmp_path) -> None:
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
    # Each node has CPUs for two trials but one "trial_slot", and every trial reserves a slot:
    # two concurrent trials must run on two nodes, whatever the scheduler prefers.
    slot = '--resources={"trial_slot": 1}'
    head = worker = None
    try:
        head = _start_node([f"--port={port}", "--head", f"--temp-dir={temp}",
                            "--include-dashboard=false", "--num-cpus=2", slot], env)  # fmt: skip
        time.sleep(3)
        worker = _start_node([f"--address={address}", "--num-cpus=2", slot], env)
        _wait_for_nodes(address, env, 2)

        store_dir = tmp_path / "store"  # where _search_driver puts it
        budget = 8
        stopped: list[list] = []  # the rows stored when the worker node was stopped

        def stop_worker_once_both_nodes_ran() -> None:
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                if len({r.node_id for r in _snapshot(store_dir)}) >= 2:
                    # The worker's actor is reused: a second later it is usually training
                    # its next trial, which the stop cuts off.
                    time.sleep(1.0)
                    _stop(worker)
                    time.sleep(2.0)  # a result already sent by the worker lands in the store
                    stopped.append(_snapshot(store_dir))
                    return
                time.sleep(0.5)

        watcher = threading.Thread(target=stop_worker_once_both_nodes_ran, daemon=True)
        watcher.start()
        # The driver runs in its own process: Ray reads RAY_AUTH_MODE when it is imported.
        driver = subprocess.run(
            [os.sys.executable, "-m", "tests.run._search_driver", str(tmp_path), str(budget),
             "--seed", "4", "--epochs", "3", "--address", address, "--max-concurrent", "2",
             "--max-failures", "1", "--trial-resources", '{"trial_slot": 1}'],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
            timeout=550, check=False,
        )  # fmt: skip
        assert driver.returncode == 0, driver.stderr[-3000:]
        watcher.join(timeout=5)
        assert stopped, "trials never ran on both nodes"
        before = stopped[0]
        rows = _snapshot(store_dir)
        # Nothing lost: one row per trial of the budget, each stored once, each either a
        # result or a failure that says why; the search state told every one of them.
        assert len(rows) == budget == len({r.key for r in rows})
        ids = [(r.extra_dict() or {}).get("candidate_id") for r in rows]
        assert len(set(ids)) == budget and None not in ids
        assert all(r.status == "ok" or (r.status == "failed" and r.error) for r in rows), [
            (r.status, r.error) for r in rows
        ]
        state = json.loads((tmp_path / "run" / "search_state.json").read_text())
        assert sorted(state["told"]) == sorted(ids) == sorted(state["proposals"])
        assert {r.key for r in before} <= {r.key for r in rows}
        # Both nodes trained before the stop; every trial that finished after it ran on the
        # surviving node (a trial cut off on the stopped one was retried there).
        assert len({r.node_id for r in before}) == 2
        after = [r for r in rows if r.key not in {b.key for b in before} and r.status == "ok"]
        assert after and len({r.node_id for r in after}) == 1
        assert {r.node_id for r in after} < {r.node_id for r in before}
        assert {r.host for r in rows} == {socket.gethostname()}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in (worker, head):
            if node is not None:
                _stop(node)
        shutil.rmtree(temp, ignore_errors=True)
