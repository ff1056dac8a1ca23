"""Every command and snippet of the README runs, as written or with a smaller budget.

The test is driven by the README itself: its fenced ``bash`` blocks are split into command
lines (backslash continuations joined, comments dropped) and its ``python`` blocks are run in
order in one interpreter, each in a fresh working directory shared by the whole README (so
``nas sample ... > arch.json`` feeds ``--arch @arch.json`` as it would for a reader).

A line that would take minutes runs with the substitutions in :data:`SMALLER` (each says
why); the few lines that cannot run here are listed in :data:`NOT_RUN`, with the reason. A
README line that matches neither runs exactly as written.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent

# (pattern, replacement, why): applied in order to every command line.
SMALLER: list[tuple[str, str, str]] = [
    (r"--budget 15m", "--budget 2", "the main job: two trials (of one epoch), not 15 minutes"),
    (r"(?<=--budget )40(?=.*--resume)", "3", "resume: one more trial than the first session"),
    (r"(?<=--budget )40(?!.*--resume)", "2", "a training search: two trials"),
    (r"(--dataset mnist1d)(?!.*--epochs)", r"\1 --epochs 1", "training: one epoch per trial"),
    (r"--seeds 20", "--seeds 2", "benchmark comparison: 2 seeds, not 20"),
    (r"--seeds 5", "--seeds 1", "predictor evaluation: one seed"),
    (r"--train-sizes 20,50,100", "--train-sizes 20", "predictor evaluation: one size"),
    (r"--graphs 2000", "--graphs 40", "pretraining: 40 unlabelled graphs"),
    (r"--epochs 15", "--epochs 1", "pretraining: one epoch"),
    (r"--candidates 100000", "--candidates 300", "ranking: 300 candidates"),
    (
        r"^nas predictor eval .*",
        r"\g<0> --test-size 100 --zc-archs 5 --epochs 2",
        "predictor evaluation: 100 test archs, 2 epochs (the defaults take 10+ minutes here)",
    ),
    (r"^nas predictor eval (?!.*--seeds).*", r"\g<0> --seeds 1", "predictor evaluation: 1 seed"),
    (r"--pretrain-on .*", r"\g<0> --per-table 50 --finetune-size 20", "transfer: 50 archs a table"),
    (r"^nas predictor pretrain (?!.*--epochs).*", r"\g<0> --epochs 1", "pretraining: one epoch"),
]
# (pattern, why): README lines matching these are not run here.
NOT_RUN: list[tuple[str, str]] = [
    (r"^(python3 -m venv|pip install|\. \.venv)", "the install: .ci/run runs it in a fresh clone"),
    (r"^python -m pytest", "the test command: it would run this test again"),
    (r"\.\.\.", "a placeholder for flags, not a command"),
]
# Lines matching these are marked (Ray trials; minutes of CPU even when made smaller).
MARKS: list[tuple[str, list[str]]] = [
    (r"^nas search .*--dataset", ["ray", "slow"]),
    (r"^nas (train|predictor|benchmark|export) ", ["slow"]),
]


@dataclass(frozen=True)
class Command:
    line: int  # where it starts in the README
    text: str  # as written (continuations joined, comment dropped)

    def runnable(self) -> str:
        cmd = self.text
        for pattern, replacement, _ in SMALLER:
            cmd = re.sub(pattern, replacement, cmd)
        return cmd

    def skipped(self) -> str | None:
        return next((why for pattern, why in NOT_RUN if re.search(pattern, self.text)), None)

    def marks(self) -> list[str]:
        return [m for pattern, marks in MARKS if re.search(pattern, self.text) for m in marks]


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(first line of the body, language, body)`` of every fenced block."""
    out = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S):
        out.append((text.count("\n", 0, match.start(2)) + 1, match.group(1), match.group(2)))
    return out


def _strip_comment(line: str) -> str:
    """The line without its shell comment (a ``#`` outside quotes that starts a word)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=">|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    return " ".join(t if t in (">", ">>", "|", "&&") else shlex.quote(t) for t in tokens)


def commands(text: str) -> list[Command]:
    out: list[Command] = []
    for start, lang, body in fenced_blocks(text):
        if lang not in ("bash", "sh", "shell"):
            continue
        pending, first = "", start
        for i, raw in enumerate(body.splitlines()):
            if not pending:
                first = start + i
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            line = _strip_comment(pending + raw)
            pending = ""
            if line:
                out.append(Command(first, line))
    return out


def python_snippets(text: str) -> list[tuple[int, str]]:
    return [(start, body) for start, lang, body in fenced_blocks(text) if lang == "python"]


README_TEXT = README.read_text()
COMMANDS = commands(README_TEXT)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory for the whole README, as a reader's shell would have."""
    return tmp_path_factory.mktemp("readme")


def _env(workdir: Path) -> dict[str, str]:
    cache = os.environ.get("NAS_CACHE_DIR") or str(workdir / ".cache")
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NAS_CACHE_DIR": cache}


def _resolve_placeholders(cmd: str, workdir: Path) -> str:
    """Fill the ids a reader copies from an earlier command's output."""

    # `--resume runs/tpe.runs/RUN_ID`: the one run directory the first session left.
    def run_dir(match: re.Match[str]) -> str:
        found = sorted((workdir / match.group(1)).glob("*"))
        assert len(found) == 1, f"expected one run under {match.group(1)}, found {found}"
        return str(found[0].relative_to(workdir))

    # `--from-store runs/train --trial TRIAL_ID`: the trial that store holds.
    def trial_id(match: re.Match[str]) -> str:
        from nas.store import ResultStore

        ids = sorted({r.trial_id for r in ResultStore(workdir / match.group(1)).results()})
        assert len(ids) == 1, f"expected one trial in {match.group(1)}, found {ids}"
        return match.group(0).replace("TRIAL_ID", str(ids[0]))

    cmd = re.sub(r"(\S+)/RUN_ID", run_dir, cmd)
    return re.sub(r"--from-store (\S+) .*--trial TRIAL_ID", trial_id, cmd)


WRITES = {"--store", "--out", "--onnx", "--plot", ">"}


def _writes_and_reads(text: str) -> tuple[set[str], set[str]]:
    tokens = shlex.split(text)
    writes = {b for a, b in itertools.pairwise(tokens) if a in WRITES}
    return writes, {t.lstrip("@") for t in tokens} - writes


def _params() -> list:
    """One parameter per command; a command reading what a marked one wrote gets its marks."""
    out = []
    marked_outputs: dict[str, list[str]] = {}
    for c in COMMANDS:
        why = c.skipped()
        names = c.marks()
        writes, reads = _writes_and_reads(c.text)
        for path, inherited in marked_outputs.items():
            # A store's run directories sit beside it: STORE.runs/RUN_ID.
            if any(r == path or r.startswith((path + "/", path + ".runs/")) for r in reads):
                names += [m for m in inherited if m not in names]
        marked_outputs.update(dict.fromkeys(writes, names) if names else {})
        marks = [getattr(pytest.mark, m) for m in names]
        if why:
            marks.append(pytest.mark.skip(reason=why))
        out.append(pytest.param(c, marks=marks, id=f"L{c.line}-{'_'.join(c.text.split()[:3])}"))
    return out


@pytest.mark.parametrize("command", _params())
def test_readme_command_runs(command: Command, workdir: Path) -> None:
    cmd = _resolve_placeholders(command.runnable(), workdir)
    done = subprocess.run(
        ["bash", "-c", cmd], cwd=workdir, env=_env(workdir), capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    where = f"README line {command.line}: {cmd}"
    assert done.returncode == 0, f"{where}\n{done.stderr[-3000:]}"
    assert done.stdout.strip() or ">" in cmd, f"{where} printed nothing"
    assert not re.match(r"0 row\(s\)", done.stdout), f"{where} matched no rows"


def test_readme_python_snippets_run(workdir: Path) -> None:
    """The tour's snippets run in order in one interpreter; printed figures match comments."""
    snippets = python_snippets(README_TEXT)
    assert snippets, "the README has no python snippet"
    script = "\n".join(
        f"print('--- README line {line}')\nexec(compile({body!r}, 'README.md:{line}', 'exec'))"
        for line, body in snippets
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, env=_env(workdir), capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # `print(x)  # what it is: 111150`: the figure the README promises is the one printed.
    for _, body in snippets:
        for promised in re.findall(r"^print\(.*#.*:\s*([\d.,]+)\s*$", body, flags=re.M):
            assert promised.replace(",", "") in done.stdout, (promised, done.stdout)


def test_the_readme_parser_sees_every_command() -> None:
    texts = [c.text for c in COMMANDS]
    assert any(
        t.startswith("nas search --space cnn1d --dataset mnist1d --strategy rea") for t in texts
    )
    assert not [t for t in texts if t.endswith("\\") or " # " in t or "# name" in t]
    assert len(python_snippets(README_TEXT)) >= 2
