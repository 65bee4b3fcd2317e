"""The example notebook runs top to bottom, offline, in a kernel of this interpreter.

The kernel is this test's own Python (``sys.executable``): a private kernel spec named
``python3`` is written to a temporary folder and is the only one the kernel manager sees, so
a ``python3`` kernel spec installed elsewhere on the machine (user or system) cannot win.
The notebook reads its data from ``$COLLECTIONS_SOURCE`` when set, else from the demo set
in ``data/``; when ``data/`` lacks the tables the test points it at the reference dataset
(and skips when that is absent too).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

from dashboard.sources import DEFAULT_SOURCE  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "Portfolio_Collections_Dashboard.ipynb"
CHECK_CELL = "import sys, json; print('KERNEL ' + json.dumps([sys.executable, sys.prefix]))"


@pytest.fixture(scope="module")
def notebook_source(demo_or_seed_source: Path) -> Path:
    return demo_or_seed_source


@pytest.fixture(scope="module")
def executed(notebook_source: Path, tmp_path_factory: pytest.TempPathFactory):
    """The notebook executed once for this module (in memory; the file is not changed)."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec = kernels / "python3"
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (test)", "language": "python"})
    )
    kernel_manager = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    with pytest.MonkeyPatch.context() as patch:
        if notebook_source != DEFAULT_SOURCE:
            patch.setenv("COLLECTIONS_SOURCE", str(notebook_source))
        else:
            patch.delenv("COLLECTIONS_SOURCE", raising=False)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
        client = nbclient.NotebookClient(
            notebook,
            km=kernel_manager,
            timeout=180,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()
    return notebook


def _outputs(notebook) -> list[dict]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))


def test_committed_notebook_is_executed_and_reads_on_a_code_host():
    """Committed with its outputs (``make notebook``): every code cell ran, in order, without
    an error; its tables and text are there; no loader or live model (megabytes of
    JavaScript a code host does not run) is kept."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        "run `make notebook` to commit it executed"
    )
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    kinds = {kind for o in outputs for kind in o.get("data", {})}
    assert "text/html" in kinds and not kinds & {"application/javascript"}
    tables = [o for o in outputs if "<table" in str(o.get("data", {}).get("text/html", ""))]
    assert len(tables) >= 8, "the model's frames are shown as tables"
    assert NOTEBOOK.stat().st_size < 1_000_000
    shown = [str(o.get("data", {}).get("text/plain", "")) for o in code[-1].outputs]
    assert any(text.startswith("Dashboard(active_tab=") for text in shown), (
        "the last cell shows the dashboard's one-line text on a code host"
    )
    assert all(len(text) < 1_000 for text in shown)  # not the model's frames as text


@pytest.mark.slow
def test_notebook_runs_without_errors(executed):
    errors = [o for o in _outputs(executed) if o.get("output_type") == "error"]
    assert not errors, "\n".join(f"{e['ename']}: {e['evalue']}" for e in errors)
    stderr = "".join(o.get("text", "") for o in _outputs(executed) if o.get("name") == "stderr")
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_notebook_ran_in_this_interpreter(executed):
    printed = "".join(_text(o) for o in _outputs(executed))
    match = re.search(r"KERNEL (\[.*\])", printed)
    assert match, "the check cell printed nothing"
    executable, prefix = json.loads(match.group(1))
    assert Path(prefix).resolve() == Path(sys.prefix).resolve()
    assert Path(executable).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
def test_notebook_shows_the_model_frames_and_the_dashboard(executed):
    texts = [_text(o) for o in _outputs(executed)]
    everything = "\n".join(texts)
    assert "'default_rate':" in everything and "'arrangement_kept_rate':" in everything  # kpis
    tables = [t for t in texts if "<table" in t and "dataframe" in t]
    assert len(tables) >= 5, "expected the model's DataFrames as HTML tables"
    assert any("Arrangement Agreed" in t for t in tables)  # actions_by_type
    assert any("Reading" in t for t in tables)  # by_segment after segment_by = "region"
    assert any("share_in_arrears" in t for t in tables)  # arrears_monthly
    assert any("cleared_60_rate" in t for t in tables)  # effectiveness
    assert any("Support" in t and "priority" in t for t in tables)  # the worklist
    assert any("Low Income Social Tariff" in t and "cure_rate" in t for t in tables)  # tariffs
    dashboards = [
        o
        for o in _outputs(executed)
        if "application/vnd.holoviews_exec.v0+json" in o.get("data", {})
        and "Dashboard(" in str(o.get("data", {}).get("text/plain", ""))
    ]
    assert dashboards, "the dashboard was not displayed"


@pytest.mark.slow
def test_notebook_loads_nothing_from_a_cdn(executed):
    """Every BokehJS/Panel loader the notebook emits embeds its code (offline)."""
    loaders = [
        o["data"]["application/javascript"]
        for o in _outputs(executed)
        if "application/javascript" in o.get("data", {})
    ]
    assert loaders, "pn.extension emitted no loader"
    for code in loaders:
        for name, urls in re.findall(r"const (js_urls|css_urls|js_modules) = (\[[^\]]*\])", code):
            assert "http" not in urls, f"a loader fetches {name} from the network: {urls[:200]}"
