"""The notebooks' teaching helpers compute what the model computes (values, not only shapes)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import actionpose as ap
from actionpose.teaching import FACTS_MIME, facts_of, notebook_source_hash


def _small_model():
    from actionpose.model.dstformer import DSTformer
    torch.manual_seed(0)
    net = DSTformer(dim_feat=16, dim_rep=16, depth=2, num_heads=2, mlp_ratio=2.0, maxlen=9)
    with torch.no_grad():  # a non-trivial fusion so α differs per token
        for fuse in net.ts_attn:
            fuse.weight.normal_(0, 0.5)
    return net


def test_attention_maps_reproduce_the_module_output():
    net = _small_model().eval()
    x = torch.randn(2, 9, 17, 3)
    captured = {}
    net.blocks_st[1].attn_s.register_forward_hook(lambda m, a, o: captured.update(x=a[0], o=o))
    maps = ap.attention_maps(net, x.numpy(), layer=1)
    attn = net.blocks_st[1].attn_s
    B, T, J, C = captured["x"].shape
    v = (captured["x"] @ attn.qkv.weight.T + attn.qkv.bias)[..., 2 * C:].reshape(B, T, J, 2, C // 2)
    # recompute per (clip, frame) with the helper's own formula, then compare with the module output
    q, k = [(captured["x"] @ attn.qkv.weight.T + attn.qkv.bias)[..., i * C:(i + 1) * C].reshape(B, T, J, 2, C // 2)
            for i in (0, 1)]
    a = torch.softmax(torch.einsum("btihd,btjhd->bthij", q, k) * attn.scale, dim=-1)
    out = attn.proj(torch.einsum("bthij,btjhd->btihd", a, v).reshape(B, T, J, C))
    assert torch.allclose(out, captured["o"], atol=1e-5)
    assert np.allclose(maps["spatial_st"], a.mean(dim=(0, 1)).detach().numpy(), atol=1e-6)
    assert maps["temporal_ts"].shape == (2, 9, 9) and np.allclose(maps["temporal_ts"].sum(-1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="layer = 2"):
        ap.attention_maps(net, x.numpy(), layer=2)


def test_fusion_weights_match_the_models_mix():
    net = _small_model().eval()
    x = torch.randn(1, 9, 17, 3)
    alpha = ap.fusion_weights(net, x.numpy())
    assert alpha.shape == (2, 1, 9, 17) and alpha.std() > 1e-3
    outs = {}
    net.blocks_st[0].register_forward_hook(lambda m, a, o: outs.update(st=o))
    net.blocks_ts[0].register_forward_hook(lambda m, a, o: outs.update(ts=o))
    fused = {}
    net.blocks_st[1].register_forward_hook(lambda m, a, o: fused.update(h=a[0]))
    with torch.no_grad():
        net(x)
    a0 = torch.as_tensor(alpha[0])[..., None]
    assert torch.allclose(a0 * outs["st"] + (1 - a0) * outs["ts"], fused["h"], atol=1e-5)
    net.reset_parameters()
    assert np.allclose(ap.fusion_weights(net, x.numpy()), 0.5)


def test_coco17_round_trip_through_the_predictor_converter():
    from actionpose.data.keypoints import coco17_to_h36m17
    rng = np.random.default_rng(0)
    h36m = np.concatenate([rng.normal(size=(4, 17, 2)), np.ones((4, 17, 1))], -1).astype(np.float32)
    back = coco17_to_h36m17(ap.coco17_from_h36m17(h36m))
    names = list(ap.H36M17_NAMES)
    same = [names.index(n) for n in ("r_hip", "r_knee", "l_wrist", "neck_nose", "head")]
    assert np.allclose(back[:, same], h36m[:, same], atol=1e-5)  # direct joints, nose, head top come back
    with pytest.raises(ValueError, match=r"expected \[T, 17, 3\]"):
        ap.coco17_from_h36m17(h36m[:, :16])


def test_skeleton_figure_colours_by_side():
    pose = np.random.default_rng(1).normal(size=(17, 3))
    fig = ap.skeleton_figure({"ground truth": pose, "prediction": pose + 1})
    lines = [t for t in fig.data if t.mode == "lines"]
    assert {t.name for t in lines} >= {"ground truth (left)", "prediction (right)"}
    left = next(t for t in lines if t.name == "ground truth (left)")
    assert left.line.color == ap.teaching.SIDE_COLORS["left"] if hasattr(ap, "teaching") else True
    assert next(t for t in lines if t.name == "prediction (left)").line.dash == "dash"
    # left bones are exactly the bones ending in a left joint: 6 of them, 3 coordinates + a break each
    assert len(left.x) == 3 * 6


def test_facts_and_source_hash(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "x", "outputs": [{"output_type": "display_data",
                                                                         "data": {FACTS_MIME: {"a": 1}}}]},
                    {"cell_type": "markdown", "source": "t"}]}
    assert facts_of(nb) == {"a": 1}
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(nb))
    h = notebook_source_hash(p)
    nb["cells"][0]["outputs"] = []  # outputs do not count
    p.write_text(json.dumps(nb))
    assert notebook_source_hash(p) == h
    nb["cells"][1]["source"] = "changed"
    p.write_text(json.dumps(nb))
    assert notebook_source_hash(p) != h


# ----------------------------------------------------------------- notebook widgets (issue 22)

def _bar(n=1):
    import plotly.graph_objects as go
    return go.Figure(go.Bar(y=list(range(n))), layout=dict(title=f"{n} bars"))


PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_interact_redraws_its_figure_in_place_once():
    """The controls and the figure are one widget: a control change replaces the figure held by its
    ipywidgets.Output (synced to the page); nothing else is displayed and the cell's value is None, so
    the figure is not shown twice. Before issue 22 the figure went out through plotly's
    `_ipython_display_` and `update_display`, which JupyterLab never applied."""
    widgets = pytest.importorskip("ipywidgets")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from ipywidgets.widgets.widget import _instances
    InteractiveShell.instance()
    slider = widgets.IntSlider(value=2, min=1, max=9)
    with capture_output() as cap:
        result = ap.interact(_bar, n=slider)
    assert result is None
    assert [list(o.data) for o in cap.outputs if PLOTLY in o.data] == []  # only inside the widget
    (view,) = [o.data[WIDGET_VIEW] for o in cap.outputs if WIDGET_VIEW in o.data]
    box = _instances[view["model_id"]]
    assert box.children[0] is slider
    (out,) = [c for c in box.children if isinstance(c, widgets.Output)]

    def bars() -> int:
        (shown,) = out.outputs
        return len(shown["data"][PLOTLY]["data"][0]["y"])

    assert bars() == 2
    slider.value = 5
    assert bars() == 5 and out.outputs[0]["data"][PLOTLY]["layout"]["title"]["text"] == "5 bars"
    broken = widgets.IntSlider(value=1)
    with capture_output():
        ap.interact(lambda n: 1 / (n - 2), n=broken)  # an error in render shows as one line, in place
    (box2,) = [w for w in _instances.values() if isinstance(w, widgets.VBox) and broken in w.children]
    broken.value = 2
    assert box2.children[-1].outputs[0]["data"] == {"text/plain": "ZeroDivisionError: division by zero"}


def _run_cells(*sources: str):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    return nb


def test_interact_updates_through_a_kernel():
    """The same through a real kernel: the cell shows one widget (no figure again as its value), and after
    a later cell moves the slider the notebook's widget state holds the redrawn figure (what the page
    shows; the browser half is tests/test_notebook_browser.py)."""
    nb = _run_cells(
        "import actionpose as ap\nimport ipywidgets as widgets\nimport plotly.graph_objects as go\n"
        "slider = widgets.IntSlider(value=2, min=1, max=9)\n"
        "ap.interact(lambda n: go.Figure(go.Bar(y=list(range(n)))), n=slider)",
        "slider.value = 6")
    outs = nb.cells[0].outputs
    assert len(outs) == 1 and outs[0].output_type == "display_data" and WIDGET_VIEW in outs[0]["data"], \
        [(o.output_type, list(o.get("data", {}))) for o in outs]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    (output_model,) = [m["state"] for m in state.values() if m["model_name"] == "OutputModel"]
    (shown,) = output_model["outputs"]
    assert len(shown["data"][PLOTLY]["data"][0]["y"]) == 6


def test_record_facts_are_machine_readable_and_not_drawn():
    """Test plumbing stays out of the reader's view: the facts output has no text (nothing printed)."""
    nb = _run_cells("import actionpose as ap\nap.record_facts(a=1.5, b=[1, 2])")
    (out,) = nb.cells[0].outputs
    assert out.output_type == "display_data" and set(out["data"]) == {FACTS_MIME}
    assert facts_of(nb) == {"a": 1.5, "b": [1, 2]}
