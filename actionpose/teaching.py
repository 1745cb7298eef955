"""Teaching helpers (L4) for the notebooks: what they explain but the task-level API hides.

- `skeleton_figure`: poses drawn with left limbs blue, right limbs red, centre grey; several poses
  (e.g. ground truth and prediction) told apart by line style and named in the legend.
- `camera_table`, and the 2D-synthesis steps `random_view` / `fixed_views` / `synthesize` /
  `add_noise` / `flip_sample` re-exported from the data layer, so notebooks picture each one.
- `attention_maps`, `fusion_weights`: the DSTformer's attention probabilities and the per-token
  weight of its spatial→temporal stream, recomputed from the modules' own weights via hooks.
- `new_bundle`, `loss_terms`: a freshly initialised model and the training loss of one step, for a
  hand-written training loop (the one-batch overfit check).
- `coco17_from_h36m17`: writes H36M-17 keypoints in the COCO-17 order a 2D detector produces.
- `interact`: ipywidgets controls that re-draw one figure in place (an `ipywidgets.Output`); executed
  headless (CI, the renderer) the notebook's widget state keeps the initial figure.
- `record_facts`: the numbers a notebook's prose states, machine-readable and not drawn, so
  `tests/test_notebooks.py` checks the prose against the outputs.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import numpy as np
import plotly.graph_objects as go

from .data.synthesis import add_noise, fixed_views, flip_sample, random_view, synthesize  # noqa: F401
from .skeleton import COCO17_NAMES, H36M17_LR_PAIRS, H36M17_NAMES, H36M17_PARENTS
from .viz import skeleton_scene

FACTS_MIME = "application/vnd.actionpose.facts+json"
SIDE_COLORS = {"left": "#1f77b4", "right": "#d62728", "centre": "#555555"}
_LEFT = {a for a, _ in H36M17_LR_PAIRS}
_RIGHT = {b for _, b in H36M17_LR_PAIRS}
_DASHES = ("solid", "dash", "dot", "dashdot")


def joint_side(j: int) -> str:
    """'left', 'right' or 'centre' for H36M-17 joint index `j` (a bone takes its child joint's side)."""
    return "left" if j in _LEFT else "right" if j in _RIGHT else "centre"


def _display_coords(pose: np.ndarray) -> np.ndarray:
    """`[17, 3]` camera frame (x right, y down, z forward) → plot frame (x right, y forward, z up);
    `[17, 2+]` screen (y down) → `[17, 2]` upright."""
    p = np.asarray(pose, dtype=float)
    if p.ndim != 2 or p.shape[0] != len(H36M17_NAMES) or p.shape[1] < 2:
        raise ValueError(f"skeleton_figure: a pose has shape {p.shape}, expected [17, 2] / [17, 3] (H36M-17 order)")
    if p.shape[1] == 3:
        return np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=-1)
    return np.stack([p[:, 0], -p[:, 1]], axis=-1)


def skeleton_figure(poses: Mapping[str, np.ndarray], title: str = "", dims: int = 3) -> go.Figure:
    """Named poses in one figure, bones coloured by side: left blue, right red, centre grey.

    poses: name → `[17, 3]` camera-frame 3D (dims=3) or `[17, 2|3]` screen 2D (dims=2; a third column
    is ignored). The first pose is drawn solid, the next ones dashed/dotted; the legend names them.
    """
    if dims not in (2, 3):
        raise ValueError(f"skeleton_figure: dims = {dims}, expected 2 or 3")
    fig = go.Figure()
    for k, (name, pose) in enumerate(poses.items()):
        p = np.asarray(pose, dtype=float)
        d = _display_coords(p if dims == 3 else p[:, :2])
        dash = _DASHES[k % len(_DASHES)]
        for side, color in SIDE_COLORS.items():
            axes: list[list] = [[] for _ in range(dims)]
            for j, par in enumerate(H36M17_PARENTS):
                if par < 0 or joint_side(j) != side:
                    continue
                for a in range(dims):
                    axes[a] += [d[par, a], d[j, a], None]
            label = f"{name} ({side})"
            if dims == 3:
                fig.add_trace(go.Scatter3d(x=axes[0], y=axes[1], z=axes[2], mode="lines", name=label,
                                           legendgroup=name, line=dict(color=color, width=6, dash=dash)))
            else:
                fig.add_trace(go.Scatter(x=axes[0], y=axes[1], mode="lines", name=label, legendgroup=name,
                                         line=dict(color=color, width=3, dash=dash)))
        marker = dict(size=3 if dims == 3 else 6, color=[SIDE_COLORS[joint_side(j)] for j in range(len(d))])
        if dims == 3:
            fig.add_trace(go.Scatter3d(x=d[:, 0], y=d[:, 1], z=d[:, 2], mode="markers", marker=marker,
                                       text=list(H36M17_NAMES), name=f"{name} joints", legendgroup=name,
                                       showlegend=False, hovertemplate="%{text}<extra>" + name + "</extra>"))
        else:
            fig.add_trace(go.Scatter(x=d[:, 0], y=d[:, 1], mode="markers", marker=marker, text=list(H36M17_NAMES),
                                     name=f"{name} joints", legendgroup=name, showlegend=False,
                                     hovertemplate="%{text}<extra>" + name + "</extra>"))
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=40, b=0), legend=dict(font=dict(size=10)))
    if dims == 3:  # every pose whole at the initial camera, with a margin (viz.skeleton_scene)
        shown = np.stack([_display_coords(np.asarray(p, dtype=float)) for p in poses.values()])
        fig.update_layout(height=520, scene=skeleton_scene(shown, xaxis=dict(title="x (right)"),
                                                           yaxis=dict(title="depth (forward)"), zaxis=dict(title="up")))
    else:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def camera_table(cfg, n: int = 500, seed: int = 0):
    """`n` training cameras drawn as the data pipeline draws them → DataFrame with azimuth_deg,
    elevation_deg, distance_mm, focal_px and orthographic per camera (subject centre at the origin)."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(n)):
        v = random_view(rng, cfg.synth, np.zeros(3))
        pos = np.asarray(v.camera.T_world_mm, dtype=float)
        dist = float(np.linalg.norm(pos))
        rows.append({"azimuth_deg": float(np.degrees(np.arctan2(pos[1], pos[0]))),
                     "elevation_deg": float(np.degrees(np.arcsin(pos[2] / dist))), "distance_mm": dist,
                     "focal_px": float(v.camera.f[0]), "orthographic": bool(v.orthographic)})
    return pd.DataFrame(rows)


def _backbone(model):
    """The DSTformer inside a ModelBundle, TrainModule, Lifter or DSTformer."""
    for attr in ("lifter", "backbone"):
        if hasattr(model, attr):
            model = getattr(model, attr)
    if hasattr(model, "lifter"):
        model = model.lifter
    if hasattr(model, "backbone"):
        model = model.backbone
    if not hasattr(model, "blocks_st"):
        raise TypeError(f"expected a ModelBundle, Lifter or DSTformer, got {type(model).__name__}")
    return model


def _as_input(x2d):
    import torch
    x = torch.as_tensor(np.asarray(x2d, dtype=np.float32))
    return x[None] if x.ndim == 3 else x


def attention_maps(model, x2d, layer: int = 0) -> dict[str, np.ndarray]:
    """Attention probabilities of DSTformer layer `layer` for input x2d `[T, 17, 3]` or `[B, T, 17, 3]`.

    Returns `spatial_st`, `spatial_ts` `[heads, J, J]` (query joint × key joint, mean over clips and
    frames) and `temporal_st`, `temporal_ts` `[heads, T, T]` (query frame × key frame, mean over clips
    and joints), for the spatial→temporal (`st`) and temporal→spatial (`ts`) streams. Each row sums
    to 1: softmax(q·kᵀ / √d) recomputed from the attention module's own `qkv` weights and its input.
    """
    import torch
    net = _backbone(model)
    if not 0 <= layer < net.depth:
        raise ValueError(f"attention_maps: layer = {layer}, the model has layers 0..{net.depth - 1}")
    inputs: dict[str, torch.Tensor] = {}
    hooks = []
    for stream, block in (("st", net.blocks_st[layer]), ("ts", net.blocks_ts[layer])):
        for axis, attn in (("spatial", block.attn_s), ("temporal", block.attn_t)):
            hooks.append(attn.register_forward_hook(
                lambda mod, args, out, key=f"{axis}_{stream}": inputs.__setitem__(key, args[0].detach())))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(_as_input(x2d))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    out = {}
    blocks = {"st": net.blocks_st[layer], "ts": net.blocks_ts[layer]}
    for key, x in inputs.items():
        axis, stream = key.split("_")
        attn = blocks[stream].attn_s if axis == "spatial" else blocks[stream].attn_t
        B, T, J, C = x.shape
        H = attn.num_heads
        with torch.no_grad():
            qkv = x @ attn.qkv.weight.T + attn.qkv.bias  # [B, T, J, 3C]
            q, k = qkv[..., :C].reshape(B, T, J, H, C // H), qkv[..., C:2 * C].reshape(B, T, J, H, C // H)
            if axis == "spatial":  # among joints of a frame: [B, T, H, J, J]
                a = torch.softmax(torch.einsum("btihd,btjhd->bthij", q, k) * attn.scale, dim=-1)
                out[key] = a.mean(dim=(0, 1)).numpy()
            else:  # among frames of a joint: [B, J, H, T, T]
                a = torch.softmax(torch.einsum("bijhd,bkjhd->bjhik", q, k) * attn.scale, dim=-1)
                out[key] = a.mean(dim=(0, 1)).numpy()
    return dict(sorted(out.items()))


def fusion_weights(model, x2d) -> np.ndarray:
    """Per-token weight of the spatial→temporal stream, `[depth, B, T, J]` in [0, 1].

    Layer i mixes its two streams per token: `h = α·h_st + (1 − α)·h_ts` with
    `(α, 1 − α) = softmax(W_i [h_st ; h_ts] + b_i)` (MotionBERT's `ts_attn`). α is recomputed here
    from the streams' outputs captured by hooks.
    """
    import torch
    net = _backbone(model)
    outs: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for i in range(net.depth):
        for stream, blocks in (("st", net.blocks_st), ("ts", net.blocks_ts)):
            hooks.append(blocks[i].register_forward_hook(
                lambda mod, args, out, key=(stream, i): outs.__setitem__(key, out.detach())))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(_as_input(x2d))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    alphas = []
    with torch.no_grad():
        for i in range(net.depth):
            logits = net.ts_attn[i](torch.cat([outs[("st", i)], outs[("ts", i)]], dim=-1))  # [B, T, J, 2]
            alphas.append(torch.softmax(logits, dim=-1)[..., 0])
    return torch.stack(alphas).numpy()


def new_bundle(cfg, motions):
    """A freshly initialised model (lifter + aligner over the label vocabulary of `motions`' training
    split) for `cfg`, exactly as `pretrain` builds it at step 0. Returns the ModelBundle (`.net`
    maps x2d `[B, T, 17, 3]` to a dict with `y3d`, `rep`, `motion_emb`)."""
    import torch

    from .data.dataset import split_motions
    from .train.model_io import build_bundle
    torch.manual_seed(cfg.train.seed)
    train = split_motions(motions, cfg.data.train_split)
    if not train:
        raise ValueError(f"new_bundle: no motions in split {cfg.data.train_split!r}")
    return build_bundle(cfg, train)


def loss_terms(out: Mapping, batch: Mapping, cfg, bundle):
    """The training loss of one step: `(loss, parts)` with parts = unweighted mpjpe, n_mpjpe,
    velocity (normalised units) and, when pretraining with alignment, align (nats)."""
    from .losses import total_loss
    aligning = cfg.train.stage == "pretrain" and cfg.align.enabled
    return total_loss(out, batch, cfg.loss, aligner=bundle.aligner if aligning else None)


def coco17_from_h36m17(kp: np.ndarray) -> np.ndarray:
    """H36M-17 keypoints `[T, 17, 3]` (x, y, score) → the COCO-17 order of a 2D detector `[T, 17, 3]`.

    Limb joints are copied. The face points H36M lacks are placed on the head: nose = neck_nose;
    ear midpoint = s + (head − s) / 1.5 with s the shoulder midpoint (so `coco17_to_h36m17`'s head-top estimate returns
    H36M's head top), ears 0.2 shoulder widths either side of it, eyes halfway between nose and ears.
    """
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"coco17_from_h36m17: keypoints have shape {kp.shape}, expected [T, 17, 3] (H36M-17)")
    J = {n: i for i, n in enumerate(H36M17_NAMES)}
    C = {n: i for i, n in enumerate(COCO17_NAMES)}
    out = np.zeros_like(kp)
    for name in ("l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
                 "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"):
        out[:, C[name]] = kp[:, J[name]]
    xy = kp[..., :2]
    score = np.minimum.reduce([kp[:, J[n], 2] for n in ("thorax", "neck_nose", "head", "l_shoulder", "r_shoulder")])
    across = 0.2 * (xy[:, J["l_shoulder"]] - xy[:, J["r_shoulder"]])  # towards the subject's left
    mid_shoulders = 0.5 * (xy[:, J["l_shoulder"]] + xy[:, J["r_shoulder"]])  # the converter's thorax
    mid_ears = mid_shoulders + (xy[:, J["head"]] - mid_shoulders) / 1.5
    nose = xy[:, J["neck_nose"]]
    mid_eyes = 0.5 * (nose + mid_ears)
    for name, pos in (("nose", nose), ("l_ear", mid_ears + across), ("r_ear", mid_ears - across),
                      ("l_eye", mid_eyes + 0.5 * across), ("r_eye", mid_eyes - 0.5 * across)):
        out[:, C[name], :2] = pos
        out[:, C[name], 2] = score
    return out


def _mimebundle(obj) -> dict:
    """`obj` as a raw display bundle (a plotly figure would display itself through `_ipython_display_`:
    ask for its mime bundle instead)."""
    if isinstance(obj, go.Figure):
        bundle = dict(obj._repr_mimebundle_(None, None) or {})
        if not bundle:  # no plotly renderer outside a kernel: the mime type JupyterLab's plotly extension draws
            bundle = {"application/vnd.plotly.v1+json": json.loads(obj.to_json())}
        title = obj.layout.title.text or "plotly figure"
        bundle.setdefault("text/plain", f"<plotly figure: {title}>")
        return bundle
    from IPython import get_ipython
    shell = get_ipython()
    if shell is not None:
        data, _ = shell.display_formatter.format(obj)
        if data:
            return dict(data)
    return {"text/plain": repr(obj)}


def interact(render: Callable[..., object], **controls) -> None:
    """Show `render(**values)` under ipywidgets `controls` (name → widget); moving a control re-draws it.

    The controls and an `ipywidgets.Output` holding the figure are displayed as one widget; a control
    change replaces the Output's content (its `outputs`, synced to the page) with the new figure's mime
    bundle. (A display id cannot do this: JupyterLab drops `update_display_data` sent from a widget
    callback, and a plotly figure displayed through `_ipython_display_` has no display id anyway.)
    Executed headless the Output's content is kept in the notebook's widget state, which
    tools/render_notebooks.py draws as a static figure. An error in `render` replaces the figure with its
    one-line message. Without ipywidgets the initial output alone is shown. Returns None, so the figure
    is not shown a second time as the cell's value.
    """
    from IPython.display import display
    values = {k: w.value for k, w in controls.items()}
    first = render(**values)
    try:
        import ipywidgets as widgets
    except ImportError:
        display(_mimebundle(first), raw=True)
        return None
    out = widgets.Output()

    def show(bundle: dict) -> None:
        out.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def on_change(_change=None):
        try:
            bundle = _mimebundle(render(**{k: w.value for k, w in controls.items()}))
        except Exception as e:  # noqa: BLE001 - shown in place of the figure (a callback's traceback is hidden)
            text = str(e).strip()
            bundle = {"text/plain": f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"}
        show(bundle)

    show(_mimebundle(first))
    for w in controls.values():
        w.observe(on_change, names="value")
    display(widgets.VBox([*controls.values(), out]))
    return None


def _plain(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class Facts(dict):
    """The facts `record_facts` recorded: a plain dict that draws nothing as a cell's last value."""

    def _ipython_display_(self) -> None:
        return None


def record_facts(**facts) -> dict:
    """Record the numbers this notebook's prose relies on, for tests/test_notebooks.py (which reads them
    from the executed notebook and checks the prose's claims). Test plumbing, kept out of the reader's
    view: the output carries only the facts' own mime type (JSON), which JupyterLab and the HTML renderer
    do not draw. Returns the facts as plain Python (a dict that draws nothing as a cell's value)."""
    from IPython.display import display
    plain = _plain(facts)
    json.dumps(plain)  # fail here, not in the test, if something is not JSON-serialisable
    display({FACTS_MIME: plain}, raw=True)
    return Facts(plain)


# The paper's headline results, as its abstract states them (ActionPose, arXiv 2409.00449 v1, 2024; the
# same numbers in v2, retitled LangPose, WACV 2026). Pretrained on mocap with fine-grained action text,
# DSTformer base size, 243-frame windows, GPU training; fine-tuned on each benchmark's training subjects.
PAPER = "Liao & Zheng, ActionPose / LangPose (arXiv 2409.00449)"
PAPER_RESULTS = (
    {"benchmark": "Human3.6M (S9, S11)", "2D input": "detected", "protocol": "MPJPE (#1)", "mm": 36.7},
    {"benchmark": "MPI-INF-3DHP (test set)", "2D input": "ground truth", "protocol": "MPJPE", "mm": 15.5},
)


def paper_beside(ours: Mapping[str, float], what: str):
    """A table of the paper's published MPJPE next to numbers measured here (name → mm), labelled so a
    reader cannot take them for the same experiment: the paper's are other data (Human3.6M /
    MPI-INF-3DHP, base model, 243 frames, GPU days); ours are `what` (e.g. the data, split and model)."""
    import pandas as pd
    rows = [{"source": f"paper ({PAPER})", "data": f"{r['benchmark']}, {r['2D input']} 2D", "what": r["protocol"],
             "MPJPE (mm)": r["mm"]} for r in PAPER_RESULTS]
    rows += [{"source": "measured here (other data and compute)", "data": what, "what": name,
              "MPJPE (mm)": round(float(v), 1)} for name, v in ours.items()]
    return pd.DataFrame(rows)


def notebook_source_hash(path) -> str:
    """sha256 of a notebook's cell types and sources (not outputs, which vary run to run): what the
    rendered copy in notebooks/rendered/ records, so a test can tell whether it is current."""
    import hashlib
    nb = json.loads(open(path, encoding="utf-8").read())
    cells = [[c.get("cell_type"), "".join(c.get("source", [])) if isinstance(c.get("source"), list) else c.get("source", "")]
             for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode("utf-8")).hexdigest()


def facts_of(nb: Mapping) -> dict:
    """The facts an executed notebook (an nbformat dict) recorded with `record_facts`, merged in order."""
    out: dict = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = o.get("data") or {}
            if FACTS_MIME in data:
                out.update(data[FACTS_MIME])
    return out


__all__ = ["PAPER", "PAPER_RESULTS", "paper_beside", "notebook_source_hash", "facts_of", "skeleton_figure", "joint_side", "camera_table", "attention_maps", "fusion_weights", "new_bundle",
           "loss_terms", "coco17_from_h36m17", "interact", "record_facts", "random_view", "fixed_views",
           "synthesize", "add_noise", "flip_sample", "FACTS_MIME", "SIDE_COLORS"]
