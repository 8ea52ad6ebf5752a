"""benchmarks/llm_model.py joins a GGUF from data-only part wheels: in order, checked, never partially."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from benchmarks.llm_model import ModelError, data_member, is_ready, join_parts, pinned_parts, stamp, wheel_file


def _wheel(folder: Path, number: int, data: bytes, extra: dict[str, str] | None = None) -> Path:
    package = f"demo_model_part{number}"
    path = folder / f"{package}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            f"{package}/__init__.py",
            "import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__), 'data')\n",
        )
        archive.writestr(f"{package}/data/part{number:02d}.bin", data)
        archive.writestr(f"{package}-0.1.0.dist-info/METADATA", f"Name: demo-model-part{number}\nVersion: 0.1.0\n")
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return path


def _requirements(path: Path, wheels: list[Path]) -> Path:
    lines = [
        f"demo-model-part{n}==0.1.0 --hash=sha256:{hashlib.sha256(w.read_bytes()).hexdigest()}"
        for n, w in enumerate(wheels, start=1)
    ]
    path.write_text("# pinned parts\n" + "\n".join(lines) + "\n")
    return path


def test_parts_are_joined_in_order_and_the_whole_is_verified(tmp_path):
    chunks = [b"GGUF" + bytes(range(200)), bytes(1000), b"tail"]
    wheels = [_wheel(tmp_path, n, data) for n, data in enumerate(chunks, start=1)]
    parts = pinned_parts(_requirements(tmp_path / "req.txt", wheels))
    assert [p[:2] for p in parts] == [(f"demo-model-part{n}", "0.1.0") for n in (1, 2, 3)]
    found = [wheel_file(tmp_path, *part) for part in parts]
    whole = b"".join(chunks)
    target = join_parts(found, tmp_path / "m.gguf", len(whole), hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole and stamp(target).read_text().split()[0] == hashlib.sha256(whole).hexdigest()

    with pytest.raises(ModelError, match="expected 5 bytes"):  # a wrong pin: nothing is left behind
        join_parts(found, tmp_path / "bad.gguf", 5, "0" * 64)
    assert not list(tmp_path.glob("bad.gguf*"))


def test_a_part_with_code_or_other_bytes_than_pinned_is_refused(tmp_path):
    good = _wheel(tmp_path, 1, b"data")
    requirements = _requirements(tmp_path / "req.txt", [good])
    other = tmp_path / "other"
    other.mkdir()
    coded = _wheel(other, 1, b"data", {"demo_model_part1/run.py": "print('hi')"})
    with pytest.raises(ModelError, match="not a data-only part"):
        data_member(coded)
    with pytest.raises(
        ModelError, match="differs from the pinned"
    ):  # same name, other bytes than the hash in the requirements
        wheel_file(coded.parent, *pinned_parts(requirements)[0])
    assert data_member(good) == "demo_model_part1/data/part01.bin"


def test_a_cached_model_counts_only_at_its_pinned_size_with_its_stamp(tmp_path):
    from benchmarks.llm_model import SplitModel

    model = SplitModel("demo", "demo", tmp_path / "req.txt", 4, "a" * 64)
    target = tmp_path / "demo.gguf"
    target.write_bytes(b"GGUF")
    assert not is_ready(model, target)  # never verified
    stamp(target).write_text(f"{'a' * 64}  demo.gguf\n")
    assert is_ready(model, target)
    target.write_bytes(b"GGUF!")
    assert not is_ready(model, target)
