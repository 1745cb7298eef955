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

# MPI-INF-3DHP's official 14-joint PCK set (the first 14 joints of its 17-joint order: head top,
# neck, shoulders, elbows, wrists, hips, knees, ankles) in H36M-17 indices: it excludes pelvis, spine
# and the head centre (H36M neck_nose), and includes the head top.
MPI3DHP_PCK14: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)

# Named BVH joints -> H36M-17 (data for actionpose.data.bvh.map_to_h36m17). A value is a BVH joint
# name; `(name, factor)` = a virtual end point continuing joint `name`'s own bone `factor` times its
# length past it (turning with that joint); `None` = no source joint (joint_valid False).
# Bandai-Namco: its Neck sits at shoulder level (H36M's thorax) and its Head joint at the skull base
# (H36M's neck/nose); it has no head-top end point, so the head top is estimated as the Neck->Head
# bone continued 2.0x past Head, which makes thorax->head-top / pelvis->thorax match Human3.6M's
# upright ratio (~236 / 490 mm). See data_cards/bandai-namco.md.
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
        "thorax": "Neck",
        "neck_nose": "Head",
        "head": ("Head", 2.0),
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

# MPI-INF-3DHP's 17-joint order ("relevant" joint set of the dataset's util/mpii_get_joint_set.m),
# which is the order of `data_2d`/`data_3d` in the common preprocessed npz files (P-STMO,
# MotionAGFormer, ...) and of the mmpose 3DHP fixtures. The root (pelvis) is index 14.
MPI3DHP17_NAMES: tuple[str, ...] = (
    "head_top", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
# MPI-INF-3DHP-17 -> H36M-17: entry j is the 3DHP index feeding H36M joint j. The standard semantic
# match: 3DHP "neck" -> H36M thorax, 3DHP "head" (head centre) -> H36M neck_nose, 3DHP "head_top" ->
# H36M head (which is the head top in Human3.6M).
MPI3DHP17_TO_17: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)

# Stacked-Hourglass / MPII-16 joint order (3d-pose-baseline SH_NAMES).
MPII16_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "thorax", "head",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
