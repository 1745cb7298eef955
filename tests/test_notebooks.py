"""Every notebook in notebooks/ runs top to bottom on CPU without a cell error.

Each notebook is executed by nbclient in a fresh "python3" kernel (jupyter_client maps the native
kernel to this interpreter, so it is the same environment as the tests). Notebooks write their runs
under `tempfile` folders; TMPDIR points at the test's tmp_path so nothing is left behind. Kernels
run with one intra-op thread: the notebooks' models are tiny, and on a shared 2-core machine
oversubscribed threads make a training step an order of magnitude slower.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NEEDS_DEMO = {"04_finetune_evaluate.ipynb", "05_inference_and_embeddings.ipynb"}
CELL_TIMEOUT_S = 300


def test_notebooks_exist_and_are_clean():
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01_data.ipynb", "02_masking_and_text.ipynb", "03_pretrain.ipynb",
                     "04_finetune_evaluate.ipynb", "05_inference_and_embeddings.ipynb"], names
    for p in NOTEBOOKS:
        nb = nbformat.read(p, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", p.name
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{p.name}: cell {i} is committed with outputs"
                # public API only: `actionpose` root names and `actionpose.viz`
                for line in cell.source.splitlines():
                    if "actionpose." in line and ("import" in line):
                        assert line.strip() == "from actionpose import viz", f"{p.name}: cell {i} imports {line.strip()!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if path.name in NEEDS_DEMO:
        from actionpose import demo_run_dir
        if not (demo_run_dir() / "checkpoint.safetensors").exists():
            pytest.skip(f"{demo_run_dir()}: the demo run is not installed (build it with `actionpose demo --install`)")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.time()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name}: a cell failed:\n{str(e)[-3000:]}")
    print(f"{path.name}: {time.time() - t0:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
