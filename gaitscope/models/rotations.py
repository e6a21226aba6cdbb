"""Rotation representations used by the mesh head, in torch (differentiable, batched).

* 6D -> matrix: the continuous representation of Zhou et al., "On the Continuity of Rotation Representations in
  Neural Networks", CVPR 2019: two 3-vectors, Gram-Schmidt, cross product. The 6 numbers are laid out as a
  ``(3, 2)`` matrix whose columns are the two vectors (the layout of HMR/SPIN/MotionBERT heads and of the SMPL
  mean-pose file), so identity is ``(1, 0, 0, 1, 0, 0)``.
* axis-angle <-> matrix: Rodrigues' formula, and its inverse through the quaternion (stable near 0 and near pi;
  quaternion from the matrix by Shepperd's method, S. W. Shepperd, J. Guidance and Control 1(3), 1978).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """``(..., 6)`` -> ``(..., 3, 3)`` rotation matrices."""
    m = x.reshape(*x.shape[:-1], 3, 2)
    b1 = F.normalize(m[..., 0], dim=-1, eps=1e-6)
    a2 = m[..., 1]
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1, eps=1e-6)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(r: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` -> ``(..., 6)`` (first two columns, row-major as ``(3, 2)``)."""
    return r[..., :, :2].reshape(*r.shape[:-2], 6)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` axis-angle (angle = norm, radians) -> ``(..., 3, 3)`` by Rodrigues' formula."""
    angle = torch.linalg.vector_norm(aa, dim=-1, keepdim=True)
    small = angle < 1e-8
    axis = aa / torch.where(small, torch.ones_like(angle), angle)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    kmat = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(kmat)
    rot = eye + s * kmat + (1 - c) * (kmat @ kmat)
    # first-order expansion near zero keeps the gradient finite: R ~ I + [aa]x
    ax, ay, az = aa.unbind(-1)
    k_small = torch.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    return torch.where(small[..., None], eye + k_small, rot)


def matrix_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` -> ``(..., 4)`` unit quaternions (w, x, y, z), w >= 0 (Shepperd's method)."""
    m = r
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    m01, m02, m10, m12, m20, m21 = m[..., 0, 1], m[..., 0, 2], m[..., 1, 0], m[..., 1, 2], m[..., 2, 0], m[..., 2, 1]
    cands = torch.stack([
        torch.stack([1 + trace, m21 - m12, m02 - m20, m10 - m01], -1),
        torch.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
        torch.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
        torch.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
    ], dim=-2)  # (..., 4 candidates, 4)
    # each candidate equals 4 q_k q; pick the one with the largest diagonal term (best conditioned)
    diag = torch.stack([1 + trace, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(r: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` -> ``(..., 3)`` axis-angle with angle in [0, pi]."""
    q = matrix_to_quaternion(r)
    xyz = q[..., 1:]
    sin_half = torch.linalg.vector_norm(xyz, dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    # angle / sin(angle/2) -> 2 as the angle -> 0
    factor = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-8), torch.full_like(angle, 2.0))
    return xyz * factor
