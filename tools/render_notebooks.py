"""Execute the notebooks and write readable copies to notebooks/rendered/ (`make render-notebooks`).

Each notebook runs top to bottom in a fresh kernel (its runs go to a temporary folder), then is written
as `notebooks/rendered/<name>.html` (nbconvert's lab template; plotly figures load plotly.js from its
CDN, so the files stay small). Every HTML file carries the sha256 of its notebook's *source* cells
(`<meta name="actionpose-source-sha256">`), and `notebooks/rendered/manifest.json` records the hash and
the execution time; `tests/test_notebooks.py` fails when a notebook changed after its rendering.

    python tools/render_notebooks.py                 # every notebook
    python tools/render_notebooks.py 01_data 05_model  # some (the manifest keeps the others)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
OUT_DIR = NB_DIR / "rendered"
HASH_META = "actionpose-source-sha256"


def render(path: Path, timeout_s: int) -> dict:
    import nbclient
    import nbformat
    from nbconvert import HTMLExporter

    from actionpose.teaching import notebook_source_hash
    nb = nbformat.read(path, as_version=4)
    digest = notebook_source_hash(path)
    client = nbclient.NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB_DIR)}})
    t0 = time.time()
    client.execute()  # raises CellExecutionError naming the cell: a broken notebook is never rendered
    seconds = time.time() - t0
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    tag = f'<meta name="{HASH_META}" content="{digest}">'
    if "<head>" not in html:
        raise RuntimeError(f"{path.name}: nbconvert output has no <head>; cannot record the source hash")
    html = html.replace("<head>", "<head>\n" + tag, 1)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / f"{path.stem}.html").write_text(html, encoding="utf-8")
    return {"source_sha256": digest, "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook stems (default: all in notebooks/)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    paths = sorted(NB_DIR.glob("*.ipynb"))
    if args.names:
        wanted = {n.removesuffix(".ipynb") for n in args.names}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            print(f"notebooks/: no notebook named {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        paths = [p for p in paths if p.stem in wanted]
    # The kernels inherit this environment: small plotly outputs (plotly.js from the CDN), runs in a
    # temporary folder, threads as the library sets them.
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype+notebook_connected"
    # One intra-op thread unless the caller chose: on a shared 2-core machine torch's default (one
    # thread per core) oversubscribes and the training cells ran ~10x slower (measured: 07_pretrain
    # 638 s with default threads under load vs 50 s with one thread).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    manifest_path = OUT_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    failed = []
    with tempfile.TemporaryDirectory(prefix="actionpose_render_") as tmp:
        os.environ["TMPDIR"] = tmp
        for p in paths:
            try:
                manifest[p.name] = render(p, args.timeout)
                print(f"{p.name}: {manifest[p.name]['seconds']:.0f} s -> {OUT_DIR.relative_to(ROOT)}/{p.stem}.html")
            except Exception as e:  # report every broken notebook, then fail
                failed.append(p.name)
                print(f"{p.name}: FAILED ({type(e).__name__}: {str(e)[-1500:]})", file=sys.stderr)
            OUT_DIR.mkdir(exist_ok=True)
            manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    total = sum(v["seconds"] for v in manifest.values())
    print(f"{len(paths) - len(failed)} rendered, {len(failed)} failed; all notebooks together {total / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
