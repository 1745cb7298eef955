"""The Human3.6M 17-joint skeleton and maps from other joint layouts (L0: data, not code paths).

Every array in the project with a joint axis uses the order of `H36M17_NAMES`.
"""
from __future__ import annotations

from types import MappingProxyType

NUM_JOINTS = 17

H36M17_NAMES: tuple[str, ...] = (
    "pelvis",      # 0
    "r_hip",       # 1
    "r_knee",      # 2
    "r_ankle",     # 3
    "l_hip",       # 4
    "l_knee",      # 5
    "l_ankle",     # 6
    "spine",       # 7
    "thorax",      # 8
    "neck_nose",   # 9
    "head",        # 10  (head top in Human3.6M)
    "l_shoulder",  # 11
    "l_elbow",     # 12
    "l_wrist",     # 13
    "r_shoulder",  # 14
    "r_elbow",     # 15
    "r_wrist",     # 16
)
ROOT = 0

# Kinematic parent of every joint (-1 for the root).
H36M17_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# Left/right pairs; a horizontal flip swaps them.
H36M17_LR_PAIRS: tuple[tuple[int, int], ...] = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))


def flip_permutation() -> list[int]:
    """Index list p such that `x[..., p, :]` swaps left and right joints."""
    perm = list(range(NUM_JOINTS))
    for a, b in H36M17_LR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


# The five parts hidden as a whole by the body-part mask.
BODY_PARTS: MappingProxyType = MappingProxyType({
    "torso_head": (0, 7, 8, 9, 10),
    "left_arm": (11, 12, 13),
    "right_arm": (14, 15, 16),
    "left_leg": (4, 5, 6),
    "right_leg": (1, 2, 3),
})

# Human3.6M's 32-joint mocap skeleton -> 17 joints.
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# MPII-16 (Stacked Hourglass detections) -> 17; None where MPII has no such point.
MPII16_TO_17: tuple[int | None, ...] = (6, 2, 1, 0, 3, 4, 5, 7, 8, None, 9, 13, 14, 15, 12, 11, 10)

COCO17_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
# COCO-17 -> H36M-17 for joints with a direct counterpart; pelvis, spine, thorax, neck_nose and head
# are derived (see actionpose.data.keypoints.coco17_to_h36m17).
COCO17_DIRECT: MappingProxyType = MappingProxyType({
    1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10,
})

# MPI-INF-3DHP's 17-joint order as used by the common preprocessed npz (same semantic order as
# H36M-17 after the standard reordering); the 14-joint PCK subset excludes pelvis, spine and head top.
MPI3DHP_PCK14: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16)

# Named BVH joints -> H36M-17 for the Bandai-Namco skeleton. `None` = no source joint: the head top
# is estimated from Neck->Head (see actionpose.data.bvh) and flagged in the data card.
BVH_PRESETS: MappingProxyType = MappingProxyType({
    "bandai": MappingProxyType({
        "pelvis": "Hips",
        "r_hip": "UpperLeg_R",
        "r_knee": "LowerLeg_R",
        "r_ankle": "Foot_R",
        "l_hip": "UpperLeg_L",
        "l_knee": "LowerLeg_L",
        "l_ankle": "Foot_L",
        "spine": "Spine",
        "thorax": "Chest",
        "neck_nose": "Neck",
        "head": "Head",
        "l_shoulder": "UpperArm_L",
        "l_elbow": "LowerArm_L",
        "l_wrist": "Hand_L",
        "r_shoulder": "UpperArm_R",
        "r_elbow": "LowerArm_R",
        "r_wrist": "Hand_R",
    }),
})

LAYOUTS = ("h36m17", "coco17", "mpii16", "h36m32")


def check_layout(name: str, where: str = "layout") -> str:
    """Return `name` if it is a known joint layout, else raise a one-line ValueError."""
    if name not in LAYOUTS:
        raise ValueError(f"{where}: unknown joint layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    return name
