"""The in-memory record every data source produces and everything downstream consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import Camera
from ..skeleton import NUM_JOINTS


@dataclass
class Motion:
    """One continuous take of one subject.

    joints3d_world_mm: `[T, 17, 3]` float32, world frame (z up, right-handed), millimetres.
    labels:            the distinct action texts of this take (may be empty).
    label_per_frame:   `[T]` int16 index into `labels`, -1 where a frame has no label.
    joint_valid:       `[17]` bool, False where the source has no such joint.
    cameras:           real cameras when the source has them (Human3.6M); empty for mocap.
    kp2d_px:           camera name -> `[T, 17, 3]` float32 (u px, v px, confidence), detected or GT 2D.
    kp2d_source:       what `kp2d_px` holds: "gt", "sh", "cpn", "detected", ... ("" when empty).
    meta:              free-form source facts (content, style, action, take index, ...); JSON-safe.
    """

    joints3d_world_mm: np.ndarray
    fps: float
    subject: str
    name: str
    source: str
    labels: tuple[str, ...] = ()
    label_per_frame: np.ndarray | None = None
    joint_valid: np.ndarray = field(default_factory=lambda: np.ones(NUM_JOINTS, dtype=bool))
    cameras: list[Camera] = field(default_factory=list)
    kp2d_px: dict[str, np.ndarray] = field(default_factory=dict)
    kp2d_source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints3d_world_mm.shape[0])

    def validate(self, where: str | None = None) -> "Motion":
        """Raise a one-line ValueError naming the motion and field if anything is malformed."""
        where = where or f"motion {self.name!r}"
        j = self.joints3d_world_mm
        if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"{where}: field joints3d_world_mm has shape {j.shape}, expected [T, {NUM_JOINTS}, 3]")
        bad = ~np.isfinite(j[:, self.joint_valid])
        if bad.any():
            frame = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{where}: field joints3d_world_mm has NaN/inf values (first at frame {frame})")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"{where}: field fps = {self.fps}, expected a positive number")
        if self.joint_valid.shape != (NUM_JOINTS,) or self.joint_valid.dtype != bool:
            raise ValueError(f"{where}: field joint_valid must be a bool array of shape [{NUM_JOINTS}]")
        if self.label_per_frame is not None:
            lpf = self.label_per_frame
            if lpf.shape != (j.shape[0],):
                raise ValueError(f"{where}: field label_per_frame has shape {lpf.shape}, expected [{j.shape[0]}]")
            if lpf.size and (lpf.max() >= len(self.labels) or lpf.min() < -1):
                raise ValueError(f"{where}: field label_per_frame indexes outside labels (0..{len(self.labels) - 1} or -1)")
        for cam in self.cameras:
            cam.validate(f"{where} camera")
        for cam_name, kp in self.kp2d_px.items():
            if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
                raise ValueError(f"{where}: field kp2d_px[{cam_name!r}] has shape {kp.shape}, expected [T, {NUM_JOINTS}, 3]")
            if kp.shape[0] != j.shape[0]:
                raise ValueError(f"{where}: field kp2d_px[{cam_name!r}] has {kp.shape[0]} frames, joints3d has {j.shape[0]}")
            if not np.all(np.isfinite(kp)):
                raise ValueError(f"{where}: field kp2d_px[{cam_name!r}] has NaN/inf values")
        return self

    def frame_labels(self) -> list[str]:
        """Per-frame label text ('' where none)."""
        if self.label_per_frame is None:
            return [""] * self.num_frames
        return [self.labels[i] if i >= 0 else "" for i in self.label_per_frame]
