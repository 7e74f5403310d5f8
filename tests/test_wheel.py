"""The release artifacts, built here by ``scripts/build_wheels.sh``: the manylinux2014 wheel passes
``auditwheel show`` and, installed into a fresh venv with no cargo or rustc on ``PATH``, imports,
finds its own worker, does a round trip and runs the CLI; the sdist builds and installs from
scratch in another venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cargo_turn import cargo_turn, timeout_with_turn

import rustyobjectstore as ros

ROOT = Path(__file__).resolve().parent.parent
BUILD_GUARD = 1500  # seconds: a cold release build of the worker for glibc 2.17, on 2 cores
pytestmark = pytest.mark.timeout(timeout_with_turn(BUILD_GUARD + 300))

ROUND_TRIP = """
import sys, tempfile, pathlib
import rustyobjectstore as ros
from rustyobjectstore._worker import binary as _binary
root = pathlib.Path(tempfile.mkdtemp())
for conf in (ros.Config(root.as_uri()), ros.Config("memory:///wheel")):
    ros.put_object("dir/key.bin", bytes(range(256)) * 4096, conf)
    assert ros.get_object_range("dir/key.bin", 256, 260, conf) == bytes(range(4))
    assert [m.path for m in ros.list_objects("dir/", conf)] == ["dir/key.bin"]
print(ros.__file__)
print(_binary.find_worker())
"""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The wheel and the sdist, built by the release script."""
    out = tmp_path_factory.mktemp("dist")
    argv = ["bash", str(ROOT / "scripts" / "build_wheels.sh"), str(out)]
    env = {**os.environ, "PYTHON": sys.executable}
    with cargo_turn():
        built = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=BUILD_GUARD)
    assert built.returncode == 0, built.stderr[-4000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    yield wheel, sdist


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    return where / "bin"


def _run(argv: list[str], path: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run with only ``path`` on PATH and none of this checkout's variables."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("RUSTYOBJECTSTORE_", "PYTHON"))
    }
    clean.update(PATH=path, **env)
    done = subprocess.run(argv, env=clean, capture_output=True, text=True, timeout=900, cwd="/")
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-4000:])
    return done


def test_the_wheel_is_manylinux2014(artifacts: tuple[Path, Path]) -> None:
    wheel, _ = artifacts
    assert wheel.name == (
        f"rustyobjectstore-{ros.__version__}-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert 'consistent with the following platform tag:\n"manylinux_2_17_x86_64"' in shown.stdout
    names = zipfile.ZipFile(wheel).namelist()
    data = f"rustyobjectstore-{ros.__version__}.data/scripts"
    assert {f"{data}/rustyobjectstore-worker", f"{data}/rustyobjectstore"} <= set(names)
    assert "rustyobjectstore/py.typed" in names and not any(n.endswith(".so") for n in names)
    info = f"rustyobjectstore-{ros.__version__}.dist-info"
    assert {f"{info}/licenses/LICENSE-MIT", f"{info}/licenses/LICENSE-APACHE"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "Requires-Python: >=3.10" in metadata and "Classifier: Typing :: Typed" in metadata


def test_the_wheel_runs_without_a_rust_toolchain(
    artifacts: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, _ = artifacts
    bin_dir = _venv(tmp_path / "venv")
    path = f"{bin_dir}:/usr/bin:/bin"
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], path)
    done = _run([str(bin_dir / "python"), "-c", ROUND_TRIP], path)
    package, worker = done.stdout.split()
    assert package.startswith(str(tmp_path / "venv")), package
    assert worker == str(bin_dir / "rustyobjectstore-worker")  # its own, from the scripts dir
    version = _run([str(bin_dir / "rustyobjectstore"), "--version"], path).stdout
    assert f"rustyobjectstore-worker {ros.__version__}" in version and worker in version
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "a.txt").write_bytes(b"a")
    listing = _run(
        [str(bin_dir / "rustyobjectstore"), "ls", (tmp_path / "listed").as_uri() + "/"], path
    )
    assert listing.stdout.split()[-1] == "a.txt"


def test_the_sdist_builds_and_installs(artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    _, sdist = artifacts
    assert sdist.name == f"rustyobjectstore-{ros.__version__}.tar.gz"
    bin_dir = _venv(tmp_path / "venv")
    cargo = shutil.which("cargo")
    assert cargo is not None, "building the sdist needs cargo"
    path = f"{bin_dir}:{Path(cargo).parent}:/usr/bin:/bin"
    # The checkout's target directory keeps the crates it compiled: the sdist's own sources are
    # built, without compiling every dependency again.
    target = str(ROOT / "worker" / "target")
    install = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(sdist)]
    with cargo_turn():
        _run(install, path, CARGO_TARGET_DIR=target, MATURIN_NO_INSTALL_RUST="1")
    done = _run([str(bin_dir / "python"), "-c", ROUND_TRIP], path)
    _, worker = done.stdout.split()
    assert worker == str(bin_dir / "rustyobjectstore-worker")


def test_the_release_workflow_builds_every_platform_with_the_same_script() -> None:
    """The workflow cannot run here; what can be checked is that it asks for every platform
    docs/platforms.md lists and builds each with the script tested above."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    wheels = workflow["jobs"]["wheels"]
    targets = {row["target"] for row in wheels["strategy"]["matrix"]["include"]}
    assert targets == {
        f"{cpu}-{system}"
        for cpu in ("x86_64", "aarch64")
        for system in ("unknown-linux-gnu", "unknown-linux-musl", "apple-darwin")
    }
    runs = [step.get("run", "") for step in wheels["steps"]]
    assert "bash scripts/build_wheels.sh dist --target ${{ matrix.target }}" in runs
    platforms = (ROOT / "docs" / "platforms.md").read_text()
    for wheel in ("manylinux2014_x86_64", "manylinux2014_aarch64", "musllinux_1_2", "macosx"):
        assert wheel in platforms, wheel
    smoke = " ".join(step.get("run", "") for step in workflow["jobs"]["smoke"]["steps"])
    assert "command -v cargo" in smoke and "rustyobjectstore --version" in smoke
