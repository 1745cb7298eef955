"""Execute the notebooks and write readable copies to notebooks/rendered/ (`make render-notebooks`).

Each notebook runs top to bottom in a fresh kernel (its runs go to a temporary folder), then is written
as `notebooks/rendered/<name>.html`: nbconvert's lab template made self-contained, so a copy opens
offline with its figures and formulas:
- plotly.js (the copy in the plotly Python package) is inlined once in the page, and every figure output
  (the kernels use plotly's JSON mime renderer) is drawn from its JSON by that copy;
- formulas are converted to MathML when the page is written (latex2mathml), which browsers draw
  natively: no MathJax, no fonts to fetch; a formula that does not convert (or holds control characters,
  e.g. a `\t` from a non-raw Python string) fails the rendering, naming it;
- widget outputs become a static line naming the controls and the values the figure below was drawn at
  (the controls are live in JupyterLab: `make notebooks`), so no widget manager is loaded;
- require.js and mermaid are not loaded, and `ap.record_facts` outputs (test plumbing) are dropped.
Every HTML file carries the sha256 of its notebook's *source* cells (`<meta name="actionpose-source-sha256">`),
and `notebooks/rendered/manifest.json` records the hash and the execution time; `tests/test_notebooks.py`
fails when a notebook changed after its rendering, and when a copy loads anything over the network.

    python tools/render_notebooks.py                 # every notebook
    python tools/render_notebooks.py 01_data 05_model  # some (the manifest keeps the others)
    python tools/render_notebooks.py 01_data --out /tmp/r  # elsewhere (its own manifest.json there)
"""
from __future__ import annotations

import argparse
import html as html_lib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
OUT_DIR = NB_DIR / "rendered"
HASH_META = "actionpose-source-sha256"
RENDERER_META = "actionpose-renderer"
RENDERER = "offline-1"  # copies written by this renderer: self-contained (tests check the others are re-rendered)
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
# The kernels' plotly renderer: figures as JSON only; this script draws them with the inlined plotly.js.
KERNEL_PLOTLY_RENDERER = "plotly_mimetype"

TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<style type="text/css">
  math { font-size: 1.1em; font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", math, serif; }
  math[display="block"] { margin: 0.6em 0; }
  msqrt > * { padding-top: 0.18em; }  /* without a math font the radical's bar sits on the letters (√n read as √π) */
  .ap-controls { font-size: 0.9em; color: #555; border-left: 3px solid #bbb; padding: 0.2em 0.6em; margin: 0.3em 0; }
  .celltag_test-facts { display: none; }  /* the cell recording facts for tests/test_notebooks.py: not for readers */
</style>
{%- endblock html_head_js_mathjax -%}
{% block extra_css %}
<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>
<script type="text/javascript">{{ resources.actionpose_plotly_js }}</script>
{% endblock extra_css %}
"""


_NETWORK = [
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//[^\"'\s>]*", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//[^\"'\s>]*", re.I),
    re.compile(r"@import\s+(?:url\()?\s*[\"']?(?:https?:)?//[^\"'\s)]*", re.I),
    re.compile(r"\bimport\s*\(?\s*[\"'](?:https?:)?//[^\"']*", re.I),
    re.compile(r"\bfrom\s+[\"'](?:https?:)?//[^\"']*", re.I),
    re.compile(r"url\(\s*[\"']?(?:https?:)?//[^\"')]*", re.I),
    re.compile(r"[\"'](?:https?:)?//[^\"'\s]+\.(?:m?js|css)(?:\?[^\"'\s]*)?[\"']", re.I),  # loaded by a script
]


def network_references(page: str) -> list[str]:
    """Scripts, style sheets, modules, imports and CSS urls a page would fetch over the network."""
    return sorted({m.group(0) for rx in _NETWORK for m in rx.finditer(page)})


# `\text{l\_hip}`: latex2mathml copies escapes inside text verbatim, so unescape them first
_TEXT = re.compile(r"(\\(?:text|textrm|textit|textbf|mathrm|operatorname)\s*\{)([^{}]*)\}")
_OPERATORS = {"arg": "arg"}


def _latex_to_mathml(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert
    bad = sorted({f"0x{ord(c):02x}" for c in tex if ord(c) < 0x20 and c not in "\n\r"})
    if bad:
        raise ValueError(f"formula {tex[:60]!r}: control characters {', '.join(bad)} (a '\\t', '\\b' or '\\f' "
                         "in a non-raw Python string?)")
    tex = _TEXT.sub(lambda m: m.group(1) + re.sub(r"\\([%$&#_{}])", r"\1", m.group(2)) + "}", tex)
    for name, op in _OPERATORS.items():  # functions latex2mathml does not know
        tex = re.sub(rf"\\{name}(?![A-Za-z])", rf"\\operatorname{{{op}}}", tex)
    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception as e:  # noqa: BLE001 - named with its formula
        raise ValueError(f"formula {tex[:60]!r} does not convert to MathML: {type(e).__name__}: {e}") from None
    left = re.findall(r"\\(?:[A-Za-z]+|[%$&#_{}])", mathml)
    if left:  # a command the converter did not know is copied as text (e.g. `\%` inside `\text{}`)
        raise ValueError(f"formula {tex[:60]!r}: {', '.join(sorted(set(left)))} left unconverted in the MathML")
    return mathml


def _exporter():
    """nbconvert's lab HTML exporter with the offline template and formulas written as MathML."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return _latex_to_mathml(body, True)

        def inline_math(self, body: str) -> str:
            return _latex_to_mathml(body, False)

        def latex_environment(self, name: str, body: str) -> str:
            return _latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", True)

    class OfflineHTMLExporter(HTMLExporter):
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    # the base class marks markdown2html as a context filter; keep that for the override
    OfflineHTMLExporter.markdown2html.__dict__.update(HTMLExporter.markdown2html.__dict__)
    return OfflineHTMLExporter(template_name="lab", extra_loaders=[DictLoader({"actionpose_offline.html.j2": TEMPLATE})],
                               template_file="actionpose_offline.html.j2")


def _widget_tree(model_id: str, state: dict) -> list[dict]:
    """The leaf models under a widget (its children, depth first), each as its saved state + model name."""
    model = state.get(model_id) or {}
    st = model.get("state") or {}
    kids = [c.removeprefix("IPY_MODEL_") for c in st.get("children") or []]
    if kids:
        return [leaf for k in kids for leaf in _widget_tree(k, state)]
    return [{**st, "_model": model.get("model_name", "")}] if model else []


def _control_text(st: dict) -> str | None:
    if "value" not in st:
        return None
    name = st.get("description") or "value"
    value = st["value"]
    if st.get("_options_labels") and isinstance(st.get("index"), int):
        value = st["_options_labels"][st["index"]]
    rng = (f" (range {st['min']:g} to {st['max']:g})" if isinstance(st.get("min"), (int, float)) and
           isinstance(st.get("max"), (int, float)) and not isinstance(value, bool) else "")
    return f"{html_lib.escape(str(name))} = <b>{html_lib.escape(str(value))}</b>{rng}"


def _static_widget(view: dict, state: dict) -> list[dict]:
    """A widget output as static outputs: one line naming each control and the value the figure was
    drawn at, then whatever its Output widgets hold (the figure `ap.interact` drew)."""
    leaves = _widget_tree(str(view.get("model_id", "")), state)
    parts = [t for t in (_control_text(leaf) for leaf in leaves if leaf["_model"] != "OutputModel") if t]
    where = "move them in JupyterLab (<code>make notebooks</code>) to redraw it"
    line = (f'Interactive controls, shown here at the values the figure below was drawn at ({where}): '
            f'{" · ".join(parts)}' if parts else f"Interactive controls: {where}.")
    outs = [{"output_type": "display_data", "metadata": {},
             "data": {"text/html": f'<div class="ap-controls">{line}</div>'}}]
    for leaf in leaves:
        if leaf["_model"] == "OutputModel":
            outs += [dict(o) for o in leaf.get("outputs") or []]
    return outs


def offline_notebook(nb) -> None:
    """Prepare an executed notebook (in place) for the offline page: widgets as static text and the
    figures their Output widgets hold, every figure drawn from its JSON by the inlined plotly.js, facts
    dropped, no widget state (so no widget manager)."""
    import nbformat
    import plotly.io as pio

    from actionpose.teaching import FACTS_MIME
    state = ((nb.metadata.get("widgets") or {}).get(WIDGET_STATE_MIME) or {}).get("state") or {}
    n_fig = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        expanded = []
        for out in cell.get("outputs", []):
            view = (out.get("data") or {}).get(WIDGET_VIEW_MIME)
            expanded += [nbformat.from_dict(o) for o in _static_widget(view, state)] if view else [out]
        kept = []
        for out in expanded:
            data = out.get("data")
            if data is not None and set(data) <= {FACTS_MIME}:
                continue
            if data is not None and PLOTLY_MIME in data:
                n_fig += 1
                fig = data.pop(PLOTLY_MIME)
                data["text/html"] = pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False,
                                                div_id=f"ap-figure-{n_fig}", validate=False,
                                                config={"displaylogo": False, "responsive": True})
            kept.append(out)
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)


def offline_html(nb, digest: str) -> str:
    """The self-contained page of an executed notebook (nbformat node; modified in place)."""
    from plotly.offline import get_plotlyjs
    offline_notebook(nb)
    page, _ = _exporter().from_notebook_node(nb, resources={"actionpose_plotly_js": get_plotlyjs()})
    if "<head>" not in page:
        raise RuntimeError("nbconvert output has no <head>; cannot record the source hash")
    tags = f'<meta name="{HASH_META}" content="{digest}"><meta name="{RENDERER_META}" content="{RENDERER}">'
    return page.replace("<head>", "<head>\n" + tags, 1)


def render(path: Path, timeout_s: int, out_dir: Path = OUT_DIR) -> dict:
    import nbclient
    import nbformat

    from actionpose.teaching import notebook_source_hash
    nb = nbformat.read(path, as_version=4)
    digest = notebook_source_hash(path)
    client = nbclient.NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB_DIR)}})
    t0 = time.time()
    client.execute()  # raises CellExecutionError naming the cell: a broken notebook is never rendered
    seconds = time.time() - t0
    try:
        page = offline_html(nb, digest)
    except ValueError as e:
        raise ValueError(f"{path.name}: {e}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{path.stem}.html").write_text(page, encoding="utf-8")
    return {"source_sha256": digest, "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook stems (default: all in notebooks/)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"folder for the pages and manifest.json "
                    f"(default {OUT_DIR.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    out_dir = args.out.resolve()
    paths = sorted(NB_DIR.glob("*.ipynb"))
    if args.names:
        wanted = {n.removesuffix(".ipynb") for n in args.names}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            print(f"notebooks/: no notebook named {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        paths = [p for p in paths if p.stem in wanted]
    # The kernels inherit this environment: plotly figures as JSON (drawn by the page's inlined plotly.js),
    # runs in a temporary folder, threads as the library sets them.
    os.environ["PLOTLY_RENDERER"] = KERNEL_PLOTLY_RENDERER
    # One intra-op thread unless the caller chose: on a shared 2-core machine torch's default (one
    # thread per core) oversubscribes and the training cells ran ~10x slower (measured: 07_pretrain
    # 638 s with default threads under load vs 50 s with one thread).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    failed = []
    with tempfile.TemporaryDirectory(prefix="actionpose_render_") as tmp:
        os.environ["TMPDIR"] = tmp
        for p in paths:
            try:
                manifest[p.name] = render(p, args.timeout, out_dir)
                print(f"{p.name}: {manifest[p.name]['seconds']:.0f} s -> {out_dir / (p.stem + '.html')}")
            except Exception as e:  # report every broken notebook, then fail
                failed.append(p.name)
                print(f"{p.name}: FAILED ({type(e).__name__}: {str(e)[-1500:]})", file=sys.stderr)
            out_dir.mkdir(parents=True, exist_ok=True)
            manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    total = sum(v["seconds"] for v in manifest.values())
    print(f"{len(paths) - len(failed)} rendered, {len(failed)} failed; all notebooks together {total / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
