"""What a user outside this repository gets: the wheel's metadata, ``python -m stdiobridge``, a light import.

The wheel is built by pip (the ordinary build, in an isolated build environment)
from a copy of the sources, so nothing is written into the repository.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "stdiobridge", src / "stdiobridge", ignore=shutil.ignore_patterns("__pycache__"))
    out = work / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("*.whl")
    return built


def metadata(wheel: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(meta)), names


@pytest.mark.timeout(320)
def test_the_wheel_is_stdiobridge_py_with_an_spdx_license(wheel: Path) -> None:
    """The distribution name is free on the package index (`stdiobridge` is another project); import name unchanged."""
    assert wheel.name.startswith("stdiobridge_py-0.")
    meta, names = metadata(wheel)
    assert meta["Name"] == "stdiobridge-py"
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in meta.get_all("License-File", [])
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert set(meta.get_all("Provides-Extra", [])) >= {"conform", "ray", "dask", "dev"}
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "pip install stdiobridge-py" in str(meta.get_payload())
    for module in ("stdiobridge/__init__.py", "stdiobridge/__main__.py", "stdiobridge/py.typed", "stdiobridge/cli.py"):
        assert module in names, module
    with zipfile.ZipFile(wheel) as zf:
        (entry,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "stdiobridge = stdiobridge.cli:main" in zf.read(entry).decode()
        # the conformance kit's tagged golden vectors, the very file the Go and Racket tests read
        assert zf.read("stdiobridge/vectors/tagged.json") == (ROOT / "protocols/vectors/tagged.json").read_bytes()


def test_python_dash_m_stdiobridge_is_the_command() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "stdiobridge", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and version.stdout.startswith("stdiobridge 0.")
    usage = subprocess.run(
        [sys.executable, "-m", "stdiobridge"], capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2 and "usage: stdiobridge" in usage.stderr


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter holds after ``code`` (no site: no editable-install hooks)."""
    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        env={"PYTHONPATH": ":".join(dict.fromkeys(paths))},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_import_stdiobridge_loads_neither_asyncio_nor_the_pools_nor_the_plugin_registry() -> None:
    heavy = ("asyncio", "importlib.metadata", "stdiobridge.aio", "stdiobridge.pool", "stdiobridge.scaleout")
    assert _loaded_after("import stdiobridge", heavy) == []
    assert _loaded_after("import stdiobridge; stdiobridge.Bridge(['cat'])", heavy[:1] + heavy[2:]) == []
    assert _loaded_after("import stdiobridge; stdiobridge.AsyncBridgePool", ("asyncio", "stdiobridge.pool")) == [
        "asyncio",
        "stdiobridge.pool",
    ]


def test_one_bridge_does_not_load_importlib_metadata() -> None:
    """The plugin registry's importlib.metadata (~15 ms) loads only when a plugin codec is asked for."""
    assert (
        _loaded_after("import stdiobridge; stdiobridge.Bridge(['cat'], codec='jsonl')", ("importlib.metadata",)) == []
    )


def test_a_missing_scaleout_engine_names_the_extra() -> None:
    from stdiobridge.scaleout import require_extra  # noqa: PLC0415

    code = "import sys; sys.modules['ray'] = None\nfrom stdiobridge.scaleout import require_extra\nrequire_extra('ray')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "pip install 'stdiobridge-py[ray]'" in done.stderr
    require_extra("dask")  # installed by the dev extra: no error


def test_importing_the_ray_face_without_ray_names_the_extra() -> None:
    code = "import sys; sys.modules['ray'] = None\nimport stdiobridge.scaleout.ray"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "pip install 'stdiobridge-py[ray]'" in done.stderr
