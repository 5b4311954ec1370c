"""The code blocks of README.md and of every docs/*.md page run as written.

Every fenced block names its language, and its kind decides what happens to it:

- ``bash``: run with ``bash -euo pipefail`` in an empty folder, with ``mtlstudy`` on PATH
  (this checkout's code) and an empty data cache;
- ``python``: run with this interpreter in an empty folder;
- ``yaml`` / ``toml``: a study spec; its first line is ``# NAME.yaml`` and ``resolve_spec`` must accept it;
- ``text``: output or a listing, never run.

An HTML comment on the line before a block changes that, visibly in the page source:

- ``<!-- no-test: REASON -->``: not run (ML-100K, hours of compute, a server that runs until Ctrl-C);
- ``<!-- test: slow -->``: run only by the slow test (real Ray studies);
- ``<!-- tested-by: TEST_NAME -->``: run by that test of this module, on patched-in small data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from _analysis_fixtures import make_export, with_roles
from mtlstudy.analysis import hypervolume_table
from mtlstudy.data import make_synthetic, random_train_test_split

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: Pages that README links to but that other changes write (the link is checked once the page exists).
WRITTEN_ELSEWHERE = {ROOT / "docs" / "architecture.md"}

RUN = {"bash", "python", "yaml", "toml"}
LANGUAGES = RUN | {"text"}
BLOCK = re.compile(
    r"(?:^<!--\s*(?P<mark>[^\n]*?)\s*-->\n)?^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
#: External sites a page may link to: the projects mtlstudy builds on, and the data's home.
EXTERNAL = ("https://grouplens.org/", "https://docs.ray.io/", "https://optuna.org/", "https://optuna.readthedocs.io/",
            "https://pytorch.org/")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    mark: str
    body: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if self.lang not in RUN:
            return "shown"
        if self.mark.startswith("no-test:"):
            return "skipped"
        if self.mark == "test: slow":
            return "slow"
        if self.mark.startswith("tested-by:"):
            return "dedicated"
        return "quick"


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, match.start("lang")) + 1, match["lang"].strip(), match["mark"] or "", match["body"])
        for match in BLOCK.finditer(text)
    ]


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _of(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind == kind]


def test_every_page_is_scanned_and_every_block_is_accounted_for():
    assert {block.page for block in BLOCKS} == set(PAGES), "a page without a code block is not scanned"
    assert {page.name for page in PAGES} >= {"README.md", "studies.md", "early-stopping-and-packing.md",
                                              "storage-and-clusters.md", "report.md", "reproducing.md", "benchmarks.md"}
    for page in PAGES:  # every fence is a block: an odd count means the pattern missed or mis-paired one
        fences = re.findall(r"^```", page.read_text(encoding="utf-8"), flags=re.M)
        assert len(fences) == 2 * sum(block.page == page for block in BLOCKS), page
    for block in BLOCKS:
        assert block.lang in LANGUAGES, f"{block.id}: a block names its language, one of {sorted(LANGUAGES)}"
        if block.mark:
            assert block.kind in {"skipped", "slow", "dedicated"}, f"{block.id}: unknown mark {block.mark!r}"
        if block.kind == "skipped":
            assert block.mark.removeprefix("no-test:").strip(), f"{block.id}: no-test needs a reason"
        if block.kind == "dedicated":
            assert block.mark.removeprefix("tested-by:").strip() in globals(), f"{block.id}: no such test"
    # The quick blocks are the ones every CI run executes; there must be some, and some slow ones too.
    assert len(_of("quick")) >= 5 and {block.lang for block in _of("quick")} >= {"bash", "yaml"}
    assert len(_of("slow")) >= 1 and len(_of("dedicated")) == 2


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {_slug(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_every_docs_page_is_linked_from_the_readme_and_every_link_lands():
    readme_links = {(README.parent / target.split("#")[0]).resolve() for target in LINK.findall(README.read_text())}
    for page in PAGES[1:]:
        assert page in readme_links, f"README does not link to {page.relative_to(ROOT)}"
    assert WRITTEN_ELSEWHERE <= readme_links
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                assert target.startswith(EXTERNAL), f"{page.name}: link out of the repository: {target}"
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.is_relative_to(ROOT), f"{page.name}: link out of the repository: {target}"
            if resolved in WRITTEN_ELSEWHERE and not resolved.exists():
                continue
            assert resolved.exists(), f"{page.name}: broken link {target}"
            if anchor:
                assert anchor in _anchors(resolved), f"{page.name}: no heading for #{anchor} in {resolved.name}"


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """An empty working folder, and an environment with this checkout's ``mtlstudy`` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mtlstudy"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from mtlstudy.cli import main; main()" "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return work, env


def _run(block: Block, work: Path, env: dict[str, str], timeout: float) -> None:
    if block.lang in {"yaml", "toml"}:
        from mtlstudy.study import resolve_spec

        name = re.match(r"#\s*(\S+\.(?:yaml|yml|toml))\s*$", block.body.splitlines()[0])
        assert name, f"{block.id}: a spec block starts with '# NAME.yaml'"
        path = work / name[1]
        path.write_text(block.body, encoding="utf-8")
        resolve_spec(path)
        return
    command = ["bash", "-euo", "pipefail", "-c", block.body] if block.lang == "bash" else [sys.executable, "-c", block.body]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.id} failed:\n{textwrap.indent(output, '  ')}"
    # A comment line '# Error: ...' in a shell block is the error line the command above it prints.
    for expected in re.findall(r"^# (Error: .*?)(?:\.\.\.\)?)?$", block.body, flags=re.M):
        assert expected in output, f"{block.id}: {expected!r} not in\n{textwrap.indent(output, '  ')}"


@pytest.mark.parametrize("block", _of("quick"), ids=lambda block: block.id)
def test_quick_block_runs(block, shell):
    _run(block, *shell, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("block", _of("slow"), ids=lambda block: block.id)
def test_slow_block_runs(block, shell):
    _run(block, *shell, timeout=600)


def _dedicated(test_name: str) -> Block:
    (block,) = [block for block in _of("dedicated") if block.mark == f"tested-by: {test_name}"]
    return block


def test_the_report_python_example_runs(monkeypatch, capsys):
    block = _dedicated("test_the_report_python_example_runs")
    trials, _ = with_roles(*make_export(lambdas=(0.1, 0.5, 0.9, 0.99), seeds=(0, 1), n_epochs=12))
    loaded = []

    def load_export(name, *args, **kwargs):
        loaded.append(name)
        return trials

    monkeypatch.setattr("mtlstudy.study.load_export", load_export)
    exec(compile(block.body, block.id, "exec"), {})
    assert loaded == ["lambda-sweep"]
    output = capsys.readouterr().out
    assert "hypervolume" in output and "final_test_mse" in output and "variant" in output
    value = float(re.search(r"hypervolume (\S+)", output).group(1))
    table = hypervolume_table(trials, values=("final",))
    overall = table.loc[table["scope"] == "overall", "hypervolume"].item()
    assert value > 0 and value == pytest.approx(overall)  # the report's own number


def test_the_packed_training_example_runs(monkeypatch, capsys):
    block = _dedicated("test_the_packed_training_example_runs")
    split = random_train_test_split(make_synthetic(num_users=60, num_items=80, seed=1), 0.1, 123)
    monkeypatch.setattr("mtlstudy.training.load_split", lambda config: (*split, None))
    exec(compile(block.body, block.id, "exec"), {})
    final_mrr, dropped_at = capsys.readouterr().out.split()
    assert 0 < float(final_mrr) <= 1 and dropped_at == "10"
