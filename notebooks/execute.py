"""Run the example notebook top to bottom and save it with its outputs, so it reads on a
code host (``make notebook``).

The tables, numbers and text it prints are kept. The BokehJS/Panel loaders and the live
dashboard's model (megabytes of JavaScript that a code host does not run anyway) are left
out: opened in Jupyter, the notebook shows the dashboard again once its cells are run.

Usage::

    .venv/bin/python notebooks/execute.py [--source PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

NOTEBOOK = Path(__file__).resolve().with_name("Portfolio_Collections_Dashboard.ipynb")
LIVE_ONLY = (
    "application/javascript",
    "application/vnd.holoviews_load.v0+json",
    "application/vnd.holoviews_exec.v0+json",
    "application/vnd.bokehjs_load.v0+json",
    "application/vnd.bokehjs_exec.v0+json",
)
"""Output kinds that only a live kernel can use (loaders and live models)."""
MAX_OUTPUT_CHARS = 200_000
"""A kept output larger than this (HTML of a whole page) is left out too."""


def execute(notebook: nbformat.NotebookNode, folder: Path, timeout: int = 600) -> None:
    """Run every cell of ``notebook`` in a kernel of this interpreter (in place): a private
    kernel spec is the only one the kernel manager sees, so no other ``python3`` wins."""
    with tempfile.TemporaryDirectory() as kernels:
        spec = Path(kernels) / "python3"
        spec.mkdir()
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
        )
        manager = KernelManager(
            kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels])
        )
        client = nbclient.NotebookClient(
            notebook,
            km=manager,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute()


def readable(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` with its live-only outputs left out (in place, and returned)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data")
            if data is not None:
                for kind in LIVE_ONLY:
                    data.pop(kind, None)
                for kind in [k for k, v in data.items() if len(str(v)) > MAX_OUTPUT_CHARS]:
                    data.pop(kind)
                output.get("metadata", {}).clear()
                if not data:
                    continue
            kept.append(output)
        cell.outputs = kept
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="data source (default: the demo set in data/)")
    args = parser.parse_args(argv)
    if args.source:
        os.environ["COLLECTIONS_SOURCE"] = args.source
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    execute(notebook, NOTEBOOK.parent)
    nbformat.validate(readable(notebook))
    nbformat.write(notebook, NOTEBOOK)
    print(f"{NOTEBOOK}: executed, {NOTEBOOK.stat().st_size / 1e3:,.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
