"""Coordinate frames and camera models (L0). All conversions between frames live here.

Frames: *world* (dataset; z up, millimetres), *camera* (x right, y down, z forward, millimetres),
*pixels* (u right, v down), *screen-normalised* (pixels scaled so the image width maps to [-1, 1],
aspect kept: the height maps to [-H/W, H/W]).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with Human3.6M-style distortion.

    `X_cam = R_world_to_cam @ (X_world - T_world_mm)`; pixel projection follows the 3d-pose-baseline
    convention (radial k1..k3, tangential p1, p2). `f`, `c` in pixels.
    """

    name: str
    R_world_to_cam: np.ndarray  # [3, 3]
    T_world_mm: np.ndarray  # [3] camera centre in world mm
    f: np.ndarray  # [2] px
    c: np.ndarray  # [2] px
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))  # [3] radial
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))  # [2] tangential
    image_size_wh: tuple[int, int] = (1000, 1000)

    def validate(self, where: str = "camera") -> "Camera":
        """Raise a one-line ValueError naming the field if any parameter is malformed or non-finite."""
        shapes = {"R_world_to_cam": (3, 3), "T_world_mm": (3,), "f": (2,), "c": (2,), "k": (3,), "p": (2,)}
        for key, shape in shapes.items():
            val = np.asarray(getattr(self, key), dtype=np.float64)
            if val.shape != shape:
                raise ValueError(f"{where} {self.name!r}: field {key} has shape {val.shape}, expected {shape}")
            if not np.all(np.isfinite(val)):
                raise ValueError(f"{where} {self.name!r}: field {key} has non-finite values")
        size = tuple(self.image_size_wh)
        if len(size) != 2:
            raise ValueError(f"{where} {self.name!r}: field image_size_wh has {len(size)} values, expected (width, height)")
        w, h = size
        if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
            raise ValueError(f"{where} {self.name!r}: field image_size_wh must be positive, got {self.image_size_wh}")
        return self

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "R_world_to_cam": np.asarray(self.R_world_to_cam).tolist(),
            "T_world_mm": np.asarray(self.T_world_mm).tolist(),
            "f": np.asarray(self.f).tolist(),
            "c": np.asarray(self.c).tolist(),
            "k": np.asarray(self.k).tolist(),
            "p": np.asarray(self.p).tolist(),
            "image_size_wh": [int(v) for v in self.image_size_wh],
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "camera") -> "Camera":
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a mapping of camera fields, got {type(d).__name__}")

        def field_of(key: str, default=None, flat: bool = True) -> np.ndarray:
            if key not in d and default is None:
                raise ValueError(f"{where}: missing field {key}")
            try:
                val = np.asarray(d.get(key, default), dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: field {key} is not numeric") from None
            return val.reshape(-1) if flat else val

        size = field_of("image_size_wh", (1000, 1000))
        if size.shape != (2,) or not np.all(np.isfinite(size)):
            raise ValueError(f"{where}: field image_size_wh must be two finite numbers (width, height)")
        cam = cls(
            name=str(d.get("name", "")),
            R_world_to_cam=field_of("R_world_to_cam", flat=False),
            T_world_mm=field_of("T_world_mm"),
            f=field_of("f"),
            c=field_of("c"),
            k=field_of("k", (0.0, 0.0, 0.0)),
            p=field_of("p", (0.0, 0.0)),
            image_size_wh=(int(size[0]), int(size[1])),
        )
        return cam.validate(where)


def world_to_camera(x_world_mm: np.ndarray, R: np.ndarray, T_mm: np.ndarray) -> np.ndarray:
    """`[..., 3]` world mm -> camera mm: `R (X - T)`."""
    return (np.asarray(x_world_mm) - T_mm) @ np.asarray(R).T


def camera_to_world(x_cam_mm: np.ndarray, R: np.ndarray, T_mm: np.ndarray) -> np.ndarray:
    """`[..., 3]` camera mm -> world mm (exact inverse of `world_to_camera`)."""
    return np.asarray(x_cam_mm) @ np.asarray(R) + T_mm


def project_pinhole(x_cam_mm: np.ndarray, f: np.ndarray, c: np.ndarray,
                    k: np.ndarray | None = None, p: np.ndarray | None = None) -> np.ndarray:
    """`[..., 3]` camera mm -> `[..., 2]` pixels with Human3.6M radial + tangential distortion."""
    x = np.asarray(x_cam_mm, dtype=np.float64)
    xy = x[..., :2] / x[..., 2:3]
    if k is not None or p is not None:
        k = np.zeros(3) if k is None else np.asarray(k, dtype=np.float64)
        p = np.zeros(2) if p is None else np.asarray(p, dtype=np.float64)
        r2 = np.sum(xy**2, axis=-1, keepdims=True)
        radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
        tan = p[0] * xy[..., 1:2] + p[1] * xy[..., 0:1]
        xy = xy * (radial + tan) + r2 * np.array([p[1], p[0]])
    return xy * np.asarray(f, dtype=np.float64) + np.asarray(c, dtype=np.float64)


def project_camera(x_world_mm: np.ndarray, cam: Camera) -> np.ndarray:
    """`[..., 3]` world mm -> `[..., 2]` pixels through `cam`."""
    x_cam = world_to_camera(x_world_mm, cam.R_world_to_cam, cam.T_world_mm)
    return project_pinhole(x_cam, cam.f, cam.c, cam.k, cam.p)


def project_orthographic(x_cam_mm: np.ndarray, px_per_mm: float | np.ndarray, c: np.ndarray) -> np.ndarray:
    """`[..., 3]` camera mm -> `[..., 2]` pixels, orthographic: `u = s * X + c` (depth dropped)."""
    return np.asarray(x_cam_mm)[..., :2] * px_per_mm + np.asarray(c)


def normalize_screen(uv_px: np.ndarray, width: float, height: float) -> np.ndarray:
    """`[..., 2]` pixels -> screen-normalised: `u' = 2u/W - 1`, `v' = 2v/W - H/W`."""
    uv = np.asarray(uv_px, dtype=np.float64)
    out = uv * (2.0 / width)
    out[..., 0] -= 1.0
    out[..., 1] -= height / width
    return out


def denormalize_screen(uv_norm: np.ndarray, width: float, height: float) -> np.ndarray:
    """Exact inverse of `normalize_screen`."""
    uv = np.array(uv_norm, dtype=np.float64)
    uv[..., 0] += 1.0
    uv[..., 1] += height / width
    return uv * (width / 2.0)


def root_relative(x: np.ndarray, root: int = 0) -> np.ndarray:
    """`[..., J, C]` -> the same with joint `root` subtracted."""
    x = np.asarray(x)
    return x - x[..., root:root + 1, :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align `pred` to `gt` per frame (rotation, uniform scale, translation).

    pred, gt: `[N, J, 3]` -> aligned pred `[N, J, 3]`. Reflections are excluded (det fix), as in the
    Human3.6M protocol #2 literature.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = np.sqrt(np.sum(p0**2, axis=(1, 2), keepdims=True))
    norm_g = np.sqrt(np.sum(g0**2, axis=(1, 2), keepdims=True))
    norm_p = np.maximum(norm_p, 1e-12)
    norm_g = np.maximum(norm_g, 1e-12)
    p0n, g0n = p0 / norm_p, g0 / norm_g
    H = np.matmul(np.transpose(g0n, (0, 2, 1)), p0n)  # [N, 3, 3]
    U, s, Vt = np.linalg.svd(H)
    V = np.transpose(Vt, (0, 2, 1))
    R = np.matmul(V, np.transpose(U, (0, 2, 1)))
    # Exclude reflections: flip the last singular direction where det(R) < 0.
    sign = np.sign(np.linalg.det(R))[:, None]
    V[:, :, -1] *= sign
    s[:, -1] *= sign[:, 0]
    R = np.matmul(V, np.transpose(U, (0, 2, 1)))
    tr = np.sum(s, axis=1, keepdims=True)[..., None]
    scale = tr * norm_g / norm_p
    return scale * np.matmul(p0, R) + mu_g


def look_at_rotation(cam_pos_mm: np.ndarray, target_mm: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """World->camera rotation for a camera at `cam_pos_mm` looking at `target_mm` (x right, y down, z fwd)."""
    z = np.asarray(target_mm, dtype=np.float64) - np.asarray(cam_pos_mm, dtype=np.float64)
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-8:  # looking straight up/down: any right vector works
        x = np.cross(z, np.array([1.0, 0.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=0)
