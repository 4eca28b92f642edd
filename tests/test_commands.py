"""The documented commands, run the way users run them: fresh processes, from a working folder, as written.

The Makefile's demo recipes are read from ``make -n`` and run line by line with only their sizes shrunk by
overrides (:data:`SHRINK`); every preset of ``configs/experiment/`` trains one step from the command line; a
mistake (a missing key, a typo'd key, a wrong file) gets one line. In-process tests cannot see what these see:
a registration that only happens after some import, an empty folder left by a failed start, a traceback where a
line was promised.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="offline", TQDM_DISABLE="1", OMP_NUM_THREADS="2",
           PYTHONWARNINGS="ignore")
# tool -> overrides that shrink a documented command to seconds (sizes only: what the command does stays)
SHRINK = {
    "make_synthetic.py": ["train_per_class=3", "test_per_class=1", "frames=10", "size=32"],
    "make_gestures.py": ["train_per_class=3", "test_per_class=1", "frames=4", "width=48", "height=48"],
    "make_keypoint_demo.py": ["train_per_class=4", "test_per_class=1", "min_frames=8", "max_frames=10"],
    "train.py": ["engine.epochs=1", "engine.num_workers=0", "engine.batch_size=4", "engine.log_every=1"],
    "extract_features.py": ["embed.num_frames=4", "embed.image_size=32", "batch_videos=4", "num_workers=0"],
    "inference.py": ["num_workers=0"],
    "evaluate.py": ["num_workers=0"],
}


def recipe(target: str) -> list[list[str]]:
    """The tool commands of a Makefile target, as ``make -n`` prints them (continuation lines joined)."""
    out = subprocess.run(["make", "-n", "-B", target, "PY=PYX"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.replace("\\\n", " ")
    return [line.split()[1:] for line in out.splitlines() if line.startswith("PYX tools/")]


def workdir(tmp: Path) -> Path:
    """A user's working folder: the tools where the README says, datasets/ and outputs/ of its own."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tools").symlink_to(ROOT / "tools")
    return tmp


def run(args: list[str], cwd: Path, shrink: bool = True, check: bool = True, env: dict | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess:
    """``python <args>`` in a fresh process, with the tool's size overrides appended."""
    extra = SHRINK.get(Path(args[0]).name, []) if shrink else []
    r = subprocess.run([PY, *args, *extra], cwd=cwd, capture_output=True, text=True, env=env or ENV,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def one_line_error(r: subprocess.CompletedProcess) -> str:
    """The process failed with exit 2 and exactly one line on stderr starting with ``error:``."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------- the demos
@pytest.mark.slow
def test_make_demo_runs_as_written(tmp_path):
    """``make demo``'s commands (LS-ViT and its control), then inference on the same test set stored as flat
    frame files (issue 24.1: one row per video, not per class) and a failed start that leaves nothing (24.8)."""
    w = workdir(tmp_path / "w")
    for args in recipe("demo"):
        r = run(args, w)
    assert "direction" in r.stdout and "outputs/demo_frame_avg" in r.stdout  # pair_accuracy's table, last
    sub = rows(w / "outputs/demo/submission.csv")
    videos = sorted(p.relative_to(w / "datasets/synthetic/test").with_suffix("").as_posix()
                    for p in (w / "datasets/synthetic/test").rglob("*.mp4"))
    assert [r["id"] for r in sub] == videos
    # the built-in dataset describes itself (manifest.json): its test split was found (data.test_root=auto)
    assert "test_metrics" in json.loads((w / "outputs/demo/summary.json").read_text())
    assert "Trained on synthetic data" in (w / "outputs/demo/best/README.md").read_text()
    # the same test videos as <class>/<video_id>_frame_<n>.jpg
    import cv2

    flat = w / "flat"
    for v in videos:
        cap = cv2.VideoCapture(str(w / "datasets/synthetic/test" / f"{v}.mp4"))
        (flat / v.split("/")[0]).mkdir(parents=True, exist_ok=True)
        for n in range(6):
            ok, frame = cap.read()
            assert ok
            cv2.imwrite(str(flat / f"{v}_frame_{n}.jpg"), frame)
    r = run(["tools/inference.py", "checkpoint=outputs/demo/best", "data_root=flat", "output=flat.csv"], w)
    assert [x["id"] for x in rows(w / "flat.csv")] == videos and "top-1 against the class folder names" in r.stdout
    # a setting that fails before any work: one line, and no run folder left behind
    r = run(["tools/train.py", "experiment=demo", "data.num_frames=0", "run_dir=outputs/failed"], w, check=False)
    assert "data.num_frames=0" in one_line_error(r) and not (w / "outputs/failed").exists()


@pytest.mark.slow
def test_make_demo_keypoints_runs_as_written(tmp_path):
    """``make demo-keypoints``: the keypoint family trains from its command (issue 24.2: it failed on main)."""
    w = workdir(tmp_path / "w")
    for args in recipe("demo-keypoints"):
        run(args, w)
    for run_dir, test in (("keypoints_demo", "csv_test.h5"), ("keypoints_demo_stacked", "npy_test.h5")):
        sub = rows(w / f"outputs/{run_dir}/submission.csv")
        meta = json.loads((w / f"outputs/{run_dir}/best/meta.json").read_text())
        assert sub and {r["class"] for r in sub} <= set(meta["class_names"])
        assert meta["model"]["args"]["input_size"] == meta["data"]["feature_count"]  # the file decided it


@pytest.mark.slow
def test_make_demo_bilstm_runs_as_written(tmp_path):
    """``make demo-bilstm``: extraction with real ImageNet weights, the BiLSTM and its probe, both submissions."""
    w = workdir(tmp_path / "w")
    for args in recipe("demo-bilstm"):
        r = run(args, w)
    assert "outputs/demo_bilstm_probe" in r.stdout
    for name in ("demo_bilstm", "demo_bilstm_probe"):
        assert rows(w / f"outputs/{name}/submission.csv")


@pytest.mark.slow
def test_every_preset_trains_one_step_from_the_command_line(tmp_path, tiny_dataset, tiny_keypoints, mini_hmdb51):
    """Every ``configs/experiment/`` preset composed, resolved, built and trained one step by the real entry point
    (a fresh process), on tiny data of its family."""
    w = workdir(tmp_path / "w")
    from conftest import TINY_EMBED_ARGS

    cache = tmp_path / "cache.h5"
    run(["tools/extract_features.py", f"source.root={tiny_dataset / 'train'}", f"out={cache}", *TINY_EMBED_ARGS], w)
    video = [f"data.root={tiny_dataset / 'train'}", "data.test_root=null", "data.num_frames=4",
             "data.image_size=32", "model.model_name=lsvit_test", "model.smif_window=3"]
    by_family = {
        "demo": video, "demo_long": video,
        "hmdb51_lsvit_base": [f"data.root={mini_hmdb51}", "data.num_frames=4", "data.image_size=32",
                              "model.model_name=lsvit_test", "model.smif_window=3", "model.pretrained=false",
                              "eval.num_clips=1", "eval.num_crops=1"],
        "bilstm_demo": [f"data.train_file={cache}", "data.test_file=null"],
        "gestures_bilstm": [f"data.train_file={cache}"],
        "hmdb51_bilstm": [f"data.train_file={cache}", "data.split=null", "data.test_file=null", "data.extract=null"],
        "keypoints_demo": [f"data.path={tiny_keypoints}", "data.test_path=null"],
        "signs_keypoint_lstm": [f"data.path={tiny_keypoints}"],
        "seed002_lstm": [f"data.path={tiny_keypoints}"],
        "seed003_lsvit": [*video[:-2], "model.model_name=lsvit_test", "model.smif_window=3", "model.pretrained=false"],
    }
    presets = sorted(p.stem for p in (ROOT / "configs/experiment").glob("*.yaml"))
    assert sorted(by_family) == presets, "a new preset needs its tiny data here"
    jobs = {name: [f"experiment={name}", *by_family[name], *SHRINK["train.py"], f"run_dir=outputs/{name}"]
            for name in presets}
    # one preset from the command line as written; the others in one more fresh process that starts as the tool
    # does (lsvit.setup(), then Hydra composes configs/train.yaml): a registration that only an import would make
    # is missing there too, and ten interpreter starts (~6 s each) are saved
    first = presets[0]
    run(["tools/train.py", f"experiment={first}", *by_family[first], f"run_dir=outputs/{first}"], w)
    script = ("import json, sys\nimport lsvit\nlsvit.setup()\nfrom lsvit.config import compose\n"
              "from lsvit.engine import train\nfor overrides in json.loads(sys.argv[1]):\n"
              "    train(compose('train', overrides))\n")
    run(["-c", script, json.dumps([jobs[n] for n in presets[1:]])], w)
    for name in presets:
        summary = json.loads((w / "outputs" / name / "summary.json").read_text())
        assert summary["epochs_run"] == 1 and summary["best_epoch"] == 1, name


# ------------------------------------------------------------------------------------------- mistakes
@pytest.mark.slow
def test_a_missing_mandatory_key_is_one_line_naming_it_and_writes_nothing(tmp_path):
    """Issue 24.6: no file named ``???``, no traceback: one line naming the key, for every tool that has one."""
    w = workdir(tmp_path / "w")
    for tool, given, missing in (("extract_features.py", ["embed=efficientnet_lite0", "source.root=x"], "out"),
                                 ("inference.py", ["checkpoint=x"], "data_root"), ("export.py", [], "checkpoint"),
                                 ("realtime.py", [], "checkpoint"), ("import_keypoints.py", ["format=csv"], "out"),
                                 ("extract_keypoints.py", ["out=x.h5"], "root"),
                                 ("prepare_hmdb51.py", [], "splits"), ("attention_report.py", [], "run_dir")):
        line = one_line_error(run([f"tools/{tool}", *given], w, shrink=False, check=False))
        assert f"{missing}=..." in line and "required" in line, (tool, line)
    assert sorted(p.name for p in w.iterdir()) == ["tools"]  # nothing written: no ???, no ???.lock


@pytest.mark.slow
def test_help_shows_the_tools_own_options(tmp_path):
    """Issue 24.12: every tool's --help shows its own options, not the training config groups."""
    for tool in sorted((ROOT / "tools").glob("*.py")):
        r = run([str(tool), "--help"], tmp_path, shrink=False)
        if tool.stem in ("train", "benchmark_hmdb51"):
            assert "== Config groups ==" in r.stdout and "experiment:" in r.stdout, tool.stem
        elif tool.stem in ("benchmark", "pair_accuracy", "sweep_report"):  # argparse tools
            assert r.stdout.startswith("usage:"), tool.stem
        else:
            assert "== Options ==" in r.stdout and "Config groups" not in r.stdout, tool.stem
            assert "model:" not in r.stdout or tool.stem == "export", tool.stem


@pytest.mark.slow
def test_user_mistakes_get_one_line(tmp_path, tiny_dataset):
    """A typo'd key is refused (not accepted by Hydra's +key and ignored), APPCONFIG__ variables leave Hydra's
    flags working, a one-class folder is refused, a non-video file is named, pair_accuracy explains itself."""
    w = workdir(tmp_path / "w")
    base = ["tools/train.py", "experiment=demo", f"data.root={tiny_dataset / 'train'}", "data.test_root=null"]
    line = one_line_error(run([*base, "+engine.epoch=1"], w, shrink=False, check=False))
    assert "engine.epoch: no such setting (did you mean engine.epochs?)" in line
    for argv in (["--cfg", "job", "experiment=demo"], ["experiment=demo", "--cfg", "job"]):
        r = run(["tools/train.py", *argv], w, shrink=False,
                env=dict(ENV, APPCONFIG__EPOCHS="3", APPCONFIG__NUM_CLASSES="8", APPCONFIG__DEPTH="3"))
        assert "epochs: 3" in r.stdout and "depth: 3" in r.stdout, r.stderr
        assert "NUM_CLASSES" not in r.stdout and "NUM_CLASSES" in r.stderr
    one = w / "one" / "only_class"
    shutil.copytree(tiny_dataset / "train" / "grow", one)
    line = one_line_error(run(["tools/train.py", "experiment=demo", f"data.root={one.parent}", "data.test_root=null"],
                              w, check=False))
    assert "a classifier needs at least 2" in line and not (w / "outputs").exists()
    r = run(["tools/pair_accuracy.py", "--help"], w, shrink=False)
    assert r.stdout.startswith("usage:") and "reversal" in r.stdout
    line = one_line_error(run(["tools/pair_accuracy.py", "nowhere.csv"], w, shrink=False, check=False))
    assert "nowhere.csv: no such file" in line


@pytest.mark.slow
def test_plugins_named_in_the_environment_are_registered_by_setup(tmp_path):
    """A family of one's own reaches every stock tool: lsvit.setup() calls the plugins LSVIT_PLUGINS names (and the
    installed packages' ``lsvit.plugins`` entry points); one that cannot be loaded is one line naming it."""
    (tmp_path / "my_family.py").write_text(
        "from test_new_family import COLOUR\n"
        "from lsvit.registry import register_input_type\n"
        "def register():\n    register_input_type(COLOUR)\n")
    env = dict(ENV, LSVIT_PLUGINS="my_family:register", PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT / 'tests'}")
    r = subprocess.run([PY, "-c", "import lsvit; lsvit.setup(); from lsvit.registry import input_types; "
                                  "print(sorted(input_types()))"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.stdout.strip() == "['clips', 'colour', 'embeddings', 'keypoints']", r.stderr[-2000:]
    w = workdir(tmp_path / "w")
    line = one_line_error(run(["tools/inference.py", "checkpoint=x", "data_root=y"], w, shrink=False, check=False,
                              env=dict(ENV, LSVIT_PLUGINS="no_such_module:register")))
    assert "plugin no_such_module:register" in line and "No module named 'no_such_module'" in line


# ------------------------------------------------------------------------------------------- the README
def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks (continuations joined, comments dropped)."""
    import re

    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                out.append(re.sub(r"\s+", " ", line))
    return out


# README commands this test does not run, and why (everything else runs as written, sizes shrunk)
NOT_RUN = {
    "make demo": "the demo recipe runs in test_make_demo_runs_as_written",
    "make test": "CI runs it (.ci/run)",
    "source .venv/bin/activate": "a shell built-in: the test runs the venv's python",
    "python scripts/install.py --extras export": "installs packages: make test's install has them",
}


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, tiny_dataset):
    """Issue 24: every command of the README's code blocks, in a fresh process, in the order a new user types them,
    on footage laid out as the README says (``datasets/my_videos/{train,test}``), sizes shrunk by overrides only."""
    commands = readme_commands()
    w = workdir(tmp_path / "w")
    for part in ("train", "test"):  # "your videos": class folders without the built-in dataset's manifest
        shutil.copytree(tiny_dataset / part, w / "datasets/my_videos" / part)
    ran = []
    for cmd in commands:
        if cmd in NOT_RUN:
            continue
        args = cmd.split()
        if args[0] == "accelerate":  # the full-size GPU run: on this machine its ImageNet weights are not there
            # as written: the missing weights are found before any data is read or the model is built
            r = subprocess.run([str(Path(PY).with_name("accelerate")), *args[1:], *SHRINK["train.py"]],
                               cwd=w, capture_output=True, text=True, env=ENV, timeout=600)
            lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
            assert r.returncode != 0 and lines and "vit_base_patch16_224" in lines[0], r.stderr[-2000:]
            assert not (w / "outputs/my_videos_base").exists()  # a failed start leaves no run folder
            ran.append(cmd)
            continue
        assert args[0] == "python", cmd
        args = args[1:]
        if args[0] == "tools/realtime.py" and "source=0" in args:  # no webcam here: one of the videos instead
            video = next((w / "datasets/my_videos/test").rglob("*.mp4"))
            args = [a for a in args if a != "source=0"] + [f"source={video}", "headless=true", "max_frames=20"]
        if args[0] == "tools/train.py" and "experiment=demo" in args:
            args += ["data.num_frames=4", "data.image_size=32"]
        run(args, w)
        ran.append(cmd)
    assert len(ran) + len(NOT_RUN) == len(commands), set(commands) - set(ran) - set(NOT_RUN)
    sub = rows(w / "submission.csv")
    assert len(sub) == 8 and rows(w / "submission_onnx.csv")[0]["id"] == sub[0]["id"]
    # the user's footage is not the built-in dataset: no synthetic note, no inherited grouping (issue 24.5)
    card = (w / "outputs/my_videos/best/README.md").read_text()
    prose = card.split("<details><summary>Resolved config")[0]  # the config itself names the preset it came from
    assert "synthetic" not in prose.lower() and "my_videos" in prose
    split = json.loads((w / "outputs/my_videos/split_summary.json").read_text())
    assert "each video on its own" in json.dumps(split)
    assert json.loads((w / "outputs/my_videos/summary.json").read_text())["test_metrics"]
    assert (w / "outputs/my_videos/best/model.onnx").is_file()
