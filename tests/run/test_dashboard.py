"""``nas search --executor ray --dashboard``: Ray's own dashboard, open while the search runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nas.errors import NasError
from nas.run import _ray_search
from nas.run._ray_search import DASHBOARD_MODULES, check_options, dashboard_missing
from nas.search import RayOptions
from nas.store import ResultStore


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def _ray_token() -> str | None:
    # A Ray started with token authentication wants it on API calls (not on the page).
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    return os.environ.get("RAY_AUTH_TOKEN") or (path.read_text().strip() if path.exists() else None)


@pytest.mark.slow
@pytest.mark.ray
def test_the_printed_dashboard_url_serves_ray_s_dashboard_during_the_search(tmp_path) -> None:
    if dashboard_missing() is not None:
        pytest.skip(f"Ray's dashboard is not installed here ({dashboard_missing()} missing)")
    import ray

    store = tmp_path / "store"
    argv = ["search", "--space", "mlp", "--dataset", "mnist1d", "--epochs", "4", "--budget",
            "3", "--executor", "ray", "--max-concurrent", "1", "--dashboard", "--store",
            str(store)]  # fmt: skip
    code = "import sys; from nas.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True, env={**os.environ, "NAS_CACHE_DIR": os.environ["NAS_CACHE_DIR"]},
    )  # fmt: skip
    try:
        url, seen = None, []
        assert proc.stderr is not None
        for line in proc.stderr:  # the URL comes before the first trial starts
            seen.append(line)
            match = re.match(r"Ray dashboard: (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, f"no dashboard URL printed: {''.join(seen)[-2000:]}"
        deadline, page = time.monotonic() + 60, (0, "")
        while time.monotonic() < deadline and page[0] != 200:  # its HTTP server may lag
            try:
                page = _get(url)
            except OSError:
                time.sleep(0.5)
        assert page[0] == 200 and "<title>Ray Dashboard</title>" in page[1]
        status, body = _get(f"{url}/api/version")
        if status == 401:
            status, body = _get(f"{url}/api/version", _ray_token())
        assert status == 200 and json.loads(body)["ray_version"] == ray.__version__
        proc.stderr.read()
        assert proc.wait(timeout=600) == 0
    finally:
        proc.kill()
        proc.wait()
    assert len(ResultStore(store).results()) == 3  # the search ran on, with its dashboard


def test_without_ray_default_the_flag_is_one_line_naming_the_extra(monkeypatch) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(_ray_search, "dashboard_missing", lambda: "aiohttp_cors")
        with pytest.raises(NasError) as caught:
            check_options(RayOptions(dashboard=True))
    err = str(caught.value)
    assert "\n" not in err and "aiohttp_cors" in err and "pip install 'ray[default]'" in err
    assert "aiohttp" in DASHBOARD_MODULES
    missing = dashboard_missing()
    if missing is None:  # installed here: the option passes the check
        check_options(RayOptions(dashboard=True))
    else:
        with pytest.raises(NasError, match=re.escape(f"{missing} is not installed")):
            check_options(RayOptions(dashboard=True))
    check_options(RayOptions(dashboard=True, address="auto"))  # a cluster has its own
