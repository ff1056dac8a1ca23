"""A two-node Ray cluster on this machine: trials run on both nodes; losing one loses nothing."""

from __future__ import annotations

import contextlib
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
    head = worker = None
    try:
        head = _start_node([f"--port={port}", "--head", f"--temp-dir={temp}",
                            "--include-dashboard=false", '--resources={"head_node": 1}'], env)  # fmt: skip
        time.sleep(3)
        worker = _start_node([f"--address={address}", '--resources={"worker_node": 1}'], env)
        _wait_for_nodes(address, env, 2)

        store_dir = tmp_path / "store"  # where _search_driver puts it
        budget = 8
        killed: list[set[str]] = []

        def stop_worker_once_both_nodes_ran() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                store = ResultStore(store_dir)
                nodes = {r.node_id for r in store.results()} if store.is_present() else set()
                if len(nodes) >= 2:
                    killed.append(nodes)
                    _stop(worker)
                    return
                time.sleep(0.5)

        watcher = threading.Thread(target=stop_worker_once_both_nodes_ran, daemon=True)
        watcher.start()
        # The driver runs in its own process: Ray reads RAY_AUTH_MODE when it is imported.
        driver = subprocess.run(
            [os.sys.executable, "-m", "tests.run._search_driver", str(tmp_path), str(budget),
             "--seed", "4", "--epochs", "2", "--address", address, "--max-concurrent", "2",
             "--max-failures", "3"],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
            timeout=500, check=False,
        )  # fmt: skip
        assert driver.returncode == 0, driver.stderr[-3000:]
        watcher.join(timeout=5)
        rows = ResultStore(store_dir).results()
        assert killed, "trials never ran on both nodes"
        assert len(killed[0]) == 2  # stored rows came from two distinct Ray nodes
        assert len(rows) == budget == len({r.key for r in rows}) == budget
        # Trials cut off by the lost node were retried on the other one.
        assert all(r.status == "ok" for r in rows), [r.error for r in rows]
        assert {r.host for r in rows} == {socket.gethostname()}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in (worker, head):
            if node is not None:
                _stop(node)
        shutil.rmtree(temp, ignore_errors=True)
