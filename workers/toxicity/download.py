"""Pre-fetch a named Detoxify model into MODELS_DIR, for Docker images and air-gapped sites.

Layout: ``<models_dir>/torch`` is TORCH_HOME (torch.hub puts Detoxify's checkpoint in
``hub/checkpoints``) and ``<models_dir>/huggingface`` is HF_HOME (the model's config and
tokenizer). A worker started with :func:`cache_env` and ``HF_HUB_OFFLINE=1`` then loads
``Detoxify(name)`` with no network: torch.hub skips the download of a cached file.

CLI: ``python -m workers.toxicity.download original --models-dir models``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from config.settings import DETOXIFY_MODELS

# Runs in a fresh interpreter: HF_HOME and HF_HUB_OFFLINE are read once, when
# huggingface_hub is imported, so only a new process is sure to honour them.
# Prints where torch.hub keeps the checkpoint (it names the file after the URL).
_LOAD_SCRIPT = """
import os, sys, urllib.parse
import torch.hub
from detoxify import Detoxify
from detoxify.detoxify import MODEL_URLS

name = sys.argv[1]
Detoxify(name)
url_path = urllib.parse.urlparse(MODEL_URLS[name]).path
print(os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url_path)))
"""


def cache_env(models_dir: str | Path) -> dict[str, str]:
    """TORCH_HOME and HF_HOME under ``models_dir``, for downloading and for run time."""
    root = Path(models_dir).resolve()
    return {"TORCH_HOME": str(root / "torch"), "HF_HOME": str(root / "huggingface")}


def download_model(name: str, models_dir: str | Path) -> Path:
    """Download Detoxify model ``name`` into ``models_dir``; return its checkpoint's path."""
    if name not in DETOXIFY_MODELS:
        raise ValueError(
            f"unknown Detoxify model {name!r}; expected one of {', '.join(DETOXIFY_MODELS)}"
        )
    env = {**os.environ, **cache_env(models_dir)}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # this step needs the network
        env.pop(key, None)
    _load(name, env)
    # Load again with the network off: proves the cache is complete for an air-gapped site.
    return _load(name, {**env, "HF_HUB_OFFLINE": "1"})


def _load(name: str, env: dict[str, str]) -> Path:
    # stderr (download progress, warnings) goes to the operator; stdout is the path.
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_SCRIPT, name],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        offline = env.get("HF_HUB_OFFLINE") == "1"
        step = "loading it offline" if offline else "downloading it"
        raise RuntimeError(f"Detoxify model {name!r}: {step} failed (see the output above)")
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"Detoxify model {name!r}: the loader printed no checkpoint path")
    return Path(lines[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Download one model and print the exports a worker needs to load it offline."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.toxicity.download", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", choices=DETOXIFY_MODELS)
    parser.add_argument("--models-dir", default="models")
    args = parser.parse_args(argv)
    checkpoint = download_model(args.name, args.models_dir)
    print(f"# {checkpoint}", file=sys.stderr)
    for key, value in {**cache_env(args.models_dir), "HF_HUB_OFFLINE": "1"}.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
