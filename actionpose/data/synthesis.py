"""2D inputs from 3D: virtual cameras, detector-like noise, flips, and the lifter's target encoding.

The lifter sees `x2d [T, 17, 3]` in screen-normalised units and predicts `y3d [T, 17, 3]`:
root-relative camera-frame 3D multiplied by a per-frame factor `units_per_mm = (2 / W) * f / Z_root`
(perspective) or `(2 / W) * px_per_mm` (orthographic). With that factor the x, y of `y3d` live in
the same units as the 2D input (weak perspective at the root depth), so the task is scale-free;
`mm_per_unit = 1 / units_per_mm` de-normalises predictions to millimetres for evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import NoiseConfig, SynthConfig
from ..geometry import (
    Camera,
    look_at_rotation,
    normalize_screen,
    project_orthographic,
    project_pinhole,
    world_to_camera,
)
from ..skeleton import ROOT, flip_permutation

_FLIP = flip_permutation()


@dataclass
class View:
    """How one clip is seen: a pinhole `camera`, or orthographic (`px_per_mm` + principal point)."""

    camera: Camera
    orthographic: bool = False
    px_per_mm: float = 0.0


@dataclass
class Sample:
    """One lifter example.

    x2d:         `[T, 17, 3]` screen-normalised x, y + confidence.
    y3d:         `[T, 17, 3]` root-relative camera-frame 3D in normalised units.
    mm_per_unit: `[T]` factor turning `y3d` units into millimetres.
    """

    x2d: np.ndarray
    y3d: np.ndarray
    mm_per_unit: np.ndarray


def trajectory_radius_mm(root_world_mm: np.ndarray, centre_world_mm: np.ndarray) -> float:
    """How far a clip's root `[T, 3]` strays from `centre_world_mm` (mm): camera distances are measured
    from that circle, so a subject who runs 10 m never passes next to (or behind) the camera."""
    if root_world_mm.size == 0:
        return 0.0
    return float(np.linalg.norm(np.asarray(root_world_mm) - centre_world_mm, axis=-1).max())


def random_view(rng: np.random.Generator, cfg: SynthConfig, centre_world_mm: np.ndarray,
                radius_mm: float = 0.0) -> View:
    """A random virtual camera looking at `centre_world_mm` (Human3.6M-like distances and focals),
    placed `radius_mm` further away than the drawn distance (see `trajectory_radius_mm`)."""
    az = np.deg2rad(rng.uniform(*cfg.azimuth_deg))
    el = np.deg2rad(rng.uniform(*cfg.elevation_deg))
    dist = rng.uniform(*cfg.distance_mm) + radius_mm
    focal = rng.uniform(*cfg.focal_px)
    return _view_at(centre_world_mm, az, el, dist, focal, cfg, orthographic=rng.random() < cfg.orthographic_prob)


def fixed_views(cfg: SynthConfig, centre_world_mm: np.ndarray, n: int | None = None,
                radius_mm: float = 0.0) -> list[View]:
    """Deterministic evaluation cameras: `n` azimuths evenly spaced, mid elevation/distance/focal
    (+ `radius_mm`, the clip's trajectory radius, so a travelling subject stays in front of them)."""
    n = cfg.fixed_eval_cameras if n is None else n
    el = np.deg2rad(float(np.mean(cfg.elevation_deg)))
    dist = float(np.mean(cfg.distance_mm)) + radius_mm
    focal = float(np.mean(cfg.focal_px))
    return [_view_at(centre_world_mm, 2 * np.pi * i / n + np.pi / 4, el, dist, focal, cfg, False)
            for i in range(n)]


def _view_at(centre: np.ndarray, az: float, el: float, dist: float, focal: float,
             cfg: SynthConfig, orthographic: bool) -> View:
    centre = np.asarray(centre, dtype=np.float64)
    offset = dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    pos = centre + offset
    R = look_at_rotation(pos, centre)
    w, h = cfg.image_size_wh
    cam = Camera(name="virtual", R_world_to_cam=R, T_world_mm=pos, f=np.array([focal, focal]),
                 c=np.array([w / 2.0, h / 2.0]), image_size_wh=(int(w), int(h)))
    return View(camera=cam, orthographic=orthographic, px_per_mm=focal / dist)


def encode_sample(joints_cam_mm: np.ndarray, uv_px: np.ndarray, conf: np.ndarray, view: View) -> Sample:
    """Camera-frame 3D + its 2D -> lifter input and target.

    joints_cam_mm `[T, 17, 3]`, uv_px `[T, 17, 2]`, conf `[T, 17]`.
    """
    w, h = view.camera.image_size_wh
    x2d = np.concatenate([normalize_screen(uv_px, w, h), conf[..., None]], axis=-1)
    rel = joints_cam_mm - joints_cam_mm[:, ROOT:ROOT + 1]
    if view.orthographic:
        units_per_mm = np.full(joints_cam_mm.shape[0], 2.0 / w * view.px_per_mm)
    else:
        z_root = np.maximum(joints_cam_mm[:, ROOT, 2], 1.0)
        units_per_mm = 2.0 / w * float(view.camera.f[0]) / z_root
    y3d = rel * units_per_mm[:, None, None]
    return Sample(x2d.astype(np.float32), y3d.astype(np.float32), (1.0 / units_per_mm).astype(np.float32))


def render(joints_world_mm: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """World 3D `[T, 17, 3]` -> (camera-frame 3D `[T, 17, 3]`, pixels `[T, 17, 2]`) under `view`."""
    cam = view.camera
    x_cam = world_to_camera(joints_world_mm, cam.R_world_to_cam, cam.T_world_mm)
    if view.orthographic:
        uv = project_orthographic(x_cam, view.px_per_mm, cam.c)
    else:
        uv = project_pinhole(x_cam, cam.f, cam.c, cam.k, cam.p)
    return x_cam, uv


def synthesize(joints_world_mm: np.ndarray, view: View, joint_valid: np.ndarray | None = None) -> Sample:
    """Noise-free sample of a world-frame clip seen through `view`; invalid joints get conf 0."""
    x_cam, uv = render(joints_world_mm, view)
    conf = np.ones(uv.shape[:-1])
    if joint_valid is not None:
        conf[:, ~joint_valid] = 0.0
    sample = encode_sample(x_cam, uv, conf, view)
    if joint_valid is not None:
        sample.x2d[:, ~joint_valid] = 0.0
    return sample


def add_noise(x2d: np.ndarray, rng: np.random.Generator, cfg: NoiseConfig) -> np.ndarray:
    """Detector-like corruption of screen-normalised 2D `[T, J, 3]`; confidence drops with the error.

    White noise + a smooth per-joint drift (low frequency, like a detector's jitter-free bias that
    wanders) + rare large outliers (left/right swaps, missed joints). Confidence is multiplied by
    `exp(-max(|err| - conf_tolerance, 0) / conf_scale)`: errors a good detector makes (a few px)
    keep confidence 1, as GT 2D and confident detections have at test time; only large errors
    (outliers, strong drift) lower it, so the confidence channel means "trust this joint".
    """
    if not cfg.enabled:
        return x2d
    T, J, _ = x2d.shape
    err = rng.normal(0.0, cfg.gaussian_std, size=(T, J, 2))
    if cfg.lowfreq_std > 0 and cfg.lowfreq_knots > 1:
        knots = rng.normal(0.0, cfg.lowfreq_std, size=(cfg.lowfreq_knots, J, 2))
        pos = np.linspace(0, cfg.lowfreq_knots - 1, T)
        lo = np.floor(pos).astype(int).clip(0, cfg.lowfreq_knots - 2)
        frac = (pos - lo)[:, None, None]
        frac = frac * frac * (3 - 2 * frac)  # smoothstep: continuous velocity at the knots
        err += knots[lo] * (1 - frac) + knots[lo + 1] * frac
    if cfg.outlier_prob > 0:
        hit = rng.random((T, J)) < cfg.outlier_prob
        err[hit] += rng.normal(0.0, cfg.outlier_std, size=(int(hit.sum()), 2))
    out = x2d.copy()
    visible = out[..., 2] > 0
    out[..., :2] += err * visible[..., None]
    mag = np.linalg.norm(err, axis=-1)
    excess = np.maximum(mag - cfg.conf_tolerance, 0.0)
    out[..., 2] = out[..., 2] * np.exp(-excess / max(cfg.conf_scale, 1e-6))
    return out.astype(np.float32)


def flip_sample(sample: Sample) -> Sample:
    """Mirror horizontally: negate x of input and target, swap left/right joints."""
    x2d = sample.x2d[:, _FLIP].copy()
    y3d = sample.y3d[:, _FLIP].copy()
    x2d[..., 0] *= -1
    y3d[..., 0] *= -1
    return Sample(x2d, y3d, sample.mm_per_unit.copy())


def flip_array(x: np.ndarray) -> np.ndarray:
    """Mirror `[..., J, C]` (x negated, left/right swapped); works on numpy or torch."""
    out = x[..., _FLIP, :]
    out = out.clone() if hasattr(out, "clone") else out.copy()
    out[..., 0] *= -1
    return out
