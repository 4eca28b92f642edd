"""The guide builds strictly and its links hold: the README stays short, every relative link points to a file.

``mkdocs build --strict`` (``mkdocs.yml`` turns every check MkDocs has into a warning: missing pages, broken
anchors, pages left out of ``nav``) runs in a fresh process into a temporary folder. The README's links into
``docs/`` are checked here too, since MkDocs never reads the README.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MAX_README_LINES = 210
# [text](target) outside code; images too. Targets with a scheme (https:, mailto:) or a bare #anchor are
# skipped.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    others = [ROOT / d / "README.md" for d in ("datasets", "weights", "outputs")]
    return [README, *sorted(DOCS.rglob("*.md")), *[p for p in others if p.is_file()]]


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file (code blocks and code spans left out)."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text()))
    return [t for t in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")]


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= MAX_README_LINES, (f"README.md has {lines} lines (at most {MAX_README_LINES}): move the "
                                       "detail into a page under docs/ and link it")


def test_every_relative_link_points_to_an_existing_file():
    broken = []
    for md in markdown_files():
        for target in relative_links(md):
            file_part = target.split("#", 1)[0]
            if file_part and not (md.parent / file_part).exists():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_the_link_finder_sees_links():
    # a guard on the guard: if the pattern stopped matching, the test above would pass on anything
    targets = relative_links(README)
    assert "docs/getting-started.md" in targets
    assert any(t.startswith("docs/") and "#" not in t for t in targets)
    assert relative_links(DOCS / "index.md"), "docs/index.md links to no page"


def test_every_page_is_in_the_nav():
    # MkDocs reports pages left out of nav (validation.omitted_files: warn); this says which, without MkDocs
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    missing = [p for p in pages if p not in nav]
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"


def test_the_site_builds_strictly(tmp_path: Path):
    pytest.importorskip("mkdocs", reason="MkDocs is not installed (the dev and docs extras install it)")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (site / "index.html").is_file() and (site / "adding-a-family" / "index.html").is_file()
    # MkDocs checks the anchors of links between pages; links from outside docs/ (the READMEs) are checked
    # here against the ids of the built pages
    broken = []
    for md in markdown_files():
        if DOCS in md.parents:
            continue
        for target in relative_links(md):
            file_part, _, anchor = target.partition("#")
            page = (md.parent / file_part).resolve()
            if not anchor or DOCS not in page.parents or page.suffix != ".md":
                continue
            rel = page.relative_to(DOCS).with_suffix("")
            html = site / ("index.html" if rel.name == "index" else rel / "index.html")
            if not html.is_file() or f'id="{anchor}"' not in html.read_text():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing anchors:\n" + "\n".join(broken)


def family_skeleton() -> str:
    page = (DOCS / "adding-a-family.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    family = next((b for b in blocks if b.startswith("# colour_family.py")), None)
    assert family is not None, "docs/adding-a-family.md lost its colour_family.py block"
    return family


def test_the_family_skeleton_in_the_docs_keeps_the_contracts(tiny_dataset: Path):
    """The page's toy family, executed as a module (not registered: the process's registries stay as they
    are), still offers what lsvit.contracts asks for, and its data and model fit together."""
    import torch

    from lsvit.contracts import DataModule, FrameAdapter, InputType

    source = family_skeleton()
    names = {n.name for n in ast.parse(source).body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert {"ColourDataset", "ColourDataModule", "ColourInput", "ColourGRU", "colour_gru",
            "register"} <= names
    ns: dict = {"__name__": "colour_family_from_docs"}
    exec(compile(source, "docs/adding-a-family.md", "exec"), ns)
    assert isinstance(ns["COLOUR"], InputType) and isinstance(ns["ColourFrames"](8), FrameAdapter)
    dm = ns["ColourDataModule"](root=str(tiny_dataset / "train"), num_frames=4, val_ratio=0.25)
    assert isinstance(dm, DataModule) and dm.meta()["type"] == ns["COLOUR"].name
    dm.setup()
    sample = dm.train_dataset[(0, 123)]
    assert sample["inputs"].shape == (4, 3) and sample["label"] == dm.train_items[0].label
    # timm passes its pretrained-config keywords to every entry point: the skeleton's must drop them
    model = ns["colour_gru"](pretrained_cfg={}, num_classes=len(dm.class_names)).eval()
    batch = dm.collate_fn([dm.val_dataset[0], dm.val_dataset[1]])
    assert model(batch["inputs"]).shape == (2, len(dm.class_names))
    contract = ns["COLOUR"].contract(dm.meta(), {})
    assert contract.shape == tuple(sample["inputs"].shape)
    assert torch.isfinite(model(contract.example(3))).all()


def seed_page_commands() -> list[tuple[str, list[str]]]:
    """``(tool, overrides)`` of every ``python tools/<tool>.py ...`` command in docs/seeds.md's code blocks."""
    import re
    import shlex

    text = (DOCS / "seeds.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            m = re.search(r"tools/(\w+)\.py(.*)", line)
            if m:
                args = shlex.split(m.group(2).split(" #", 1)[0])
                out.append((m.group(1), args))
    return out


def test_the_seed_walkthroughs_commands_compose():
    """Every command docs/seeds.md gives a seed's user names keys its tool's config has (Hydra refuses any other)."""
    from lsvit.config import compose

    commands = seed_page_commands()
    assert {t for t, _ in commands} >= {"train", "inference", "realtime", "extract_keypoints", "import_keypoints",
                                        "capture_keypoints", "extract_features", "download_hmdb51",
                                        "benchmark_hmdb51"} and len(commands) >= 20
    for tool, overrides in commands:
        compose(tool, overrides)  # raises on a key the tool does not have, or a group option that does not exist
