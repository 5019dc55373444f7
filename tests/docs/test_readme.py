"""The README and the docs pages with code work as pasted.

Every ```python block of README.md and the pages in DOCUMENTS runs, in order, each document in
a fresh namespace and an empty folder of one interpreter (as a reader pastes them into one
session), offline (``HF_HUB_OFFLINE=1``, an empty Hugging Face cache). A block that cannot run
there (it downloads, or reads the reader's own folders) is preceded by
``<!-- not run: <reason> -->`` and is only compiled. Also: the README stays short, opens with
the two commands, and its test command is exactly the one .ci/run runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = (
    "README.md",
    "docs/getting-started.md",
    "docs/stylizer.md",
    "docs/style-banks.md",
    "docs/kornia.md",
    "docs/front-ends.md",
    "docs/tta.md",
    "docs/checkpoints.md",
    "docs/bundled-default.md",
    "docs/fine-tuning.md",
)
# Listed, but every block is marked `not run` (each is still compiled): fine-tuning's one block loads
# a training run's folder, and even a 1-step run costs 10 s of CPU (measured 2026-12-01)
COMPILED_ONLY = ("docs/fine-tuning.md",)
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->")
TIMEOUT_S = 600  # every document; the blocks use the bundled default and small images

# One interpreter for every document (one torch import, not one per document); each document
# runs as a reader pastes it into a fresh session: its own namespace and its own empty folder.
RUNNER = textwrap.dedent(
    """
    import json, os, sys, traceback
    documents = json.load(open(sys.argv[1]))
    for folder, blocks in documents:
        os.chdir(folder)
        namespace = {"__name__": "__main__"}
        for block in blocks:
            where = f"{block['document']}, the python block at line {block['line']}"
            try:
                exec(compile(block["code"], where, "exec"), namespace)
            except BaseException:
                traceback.print_exc()
                sys.exit(f"FAILED: {where}")
            print(f"ok: {where}", flush=True)
    """
)


@dataclass
class Block:
    document: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    not_run: str | None  # the reason, when the block is marked not to run


def fenced_blocks(document: str) -> list[Block]:
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or not opening["lang"]:
            index += 1
            continue
        indent = len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            line = lines[end]  # the fence's own indent comes off (a block in a list item); the code's stays
            body.append(line[indent:] if line[:indent].isspace() or not indent else line.lstrip())
            end += 1
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = NOT_RUN.search(before)
        blocks.append(
            Block(document, index + 1, opening["lang"], "\n".join(body) + "\n", marker["reason"] if marker else None)
        )
        index = end + 1
    return blocks


def python_blocks(document: str) -> list[Block]:
    return [block for block in fenced_blocks(document) if block.lang == "python"]


def blocks_to_run(document: str) -> list[Block]:
    """The blocks of ``document`` that run; every block at least compiles, and a skipped one says why."""
    blocks = python_blocks(document)
    for block in blocks:
        compile(block.code, f"{document}:{block.line}", "exec")
        if block.not_run is not None:
            assert block.not_run, f"{document}:{block.line}: `not run:` needs a reason"
    to_run = [block for block in blocks if block.not_run is None]
    assert blocks and (to_run or document in COMPILED_ONLY), f"{document} has no python block to run"
    return to_run


def test_every_python_block_compiles_with_its_indentation():
    """Fast, and before the slow run: a block's own indentation (a class, a loop) is kept."""
    for document in DOCUMENTS:
        blocks_to_run(document)


def test_every_python_block_runs_offline_as_pasted(tmp_path):
    documents = []
    for index, document in enumerate(DOCUMENTS):
        work = tmp_path / f"work-{index}"
        work.mkdir()
        documents.append((str(work), [block.__dict__ for block in blocks_to_run(document)]))
    script = tmp_path / "blocks.json"
    script.write_text(json.dumps(documents))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf-home"),  # an empty cache: nothing downloaded earlier helps
        # one thread unless told: on the shared 2-core machine, 2 threads took 82 s of CPU (135 s wall) for
        # these six documents against 23 s (58 s wall) with one, threads spinning while they wait (2026-12-01)
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(script)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.count("ok: ") == sum(len(blocks) for _, blocks in documents)


def test_the_readme_is_short():
    assert len(README.read_bytes()) < 8 * 1024, "the README stays under 8 KB: move detail to docs/"


def _ci_test_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return next(line for line in lines if "pytest" in line and not line.startswith("#"))


def test_the_readme_opens_with_the_two_commands_and_the_ci_test_command():
    first = fenced_blocks("README.md")[0]
    assert first.lang == "bash"
    commands = [line.split("#")[0].strip() for line in first.code.splitlines() if line.strip()]
    assert any(command.endswith("stylizing-vit-aug demo") for command in commands)
    assert _ci_test_command() in commands, "the README's test command must be exactly .ci/run's"


def test_the_readme_links_to_files_that_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    assert targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"
