"""NTU RGB+D .skeleton reading, naming / split conventions, Kinect-25 -> H36M-17, and the synthetic set.

The synthetic set is written as real .skeleton text files, so the loader is exercised on the file format itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.errors import InvalidInputError, KeypointFormatError
from gaitscope.models import ntu
from gaitscope.models.ntu_synthetic import SYNTHETIC_ACTIONS, body_joints, write_synthetic_ntu
from gaitscope.skeleton import J


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ntu_syn")
    write_synthetic_ntu(folder, subjects=(1, 3), cameras=(1, 2), n_frames=30, seed=1)
    return folder


def _body(rng, n_frames: int, offset: float, moving: float) -> np.ndarray:
    rows = np.zeros((n_frames, 25, 12))
    base = rng.normal(0, 0.3, (25, 3)) + [0, 0, 3.0]
    for f in range(n_frames):
        rows[f, :, :3] = base + [offset + moving * f, 0, 0]
    rows[..., 3:5] = 100.0
    rows[..., 5:7] = 500.0
    rows[..., 11] = 2
    return rows


def test_file_names_give_setup_camera_subject_action_and_the_protocol_side():
    n = ntu.parse_ntu_name("S001C002P003R002A013.skeleton")
    assert (n.setup, n.camera, n.subject, n.replication, n.action, n.label) == (1, 2, 3, 2, 13, 12)
    assert n.stem == "S001C002P003R002A013"
    assert ntu.split_of(n, "xsub") == "test"  # performer 3 is not a cross-subject training performer
    assert ntu.split_of(n, "xview") == "train"  # camera 2 is a cross-view training camera
    assert ntu.split_of(ntu.parse_ntu_name("S017C001P008R001A060"), "xsub") == "train"
    assert ntu.split_of(ntu.parse_ntu_name("S017C001P008R001A060"), "xview") == "test"
    assert len(ntu.XSUB_TRAIN_SUBJECTS) == 20 and len(ntu.NTU60_CLASSES) == 60
    with pytest.raises(InvalidInputError, match="SsssCcccPpppRrrrAaaa"):
        ntu.parse_ntu_name("walk_01.skeleton")
    with pytest.raises(InvalidInputError):
        ntu.split_of(n, "xset")  # type: ignore[arg-type]


def test_text_format_round_trip_with_several_bodies_keeps_the_most_active(tmp_path):
    rng = np.random.default_rng(0)
    n_frames = 6
    still, mover, runner = _body(rng, n_frames, 0, 0.0), _body(rng, n_frames, 1, 0.05), _body(rng, n_frames, -1, 0.2)
    frames = []
    for f in range(n_frames):
        bodies = [("111", still[f]), ("222", mover[f])]
        if f >= 2:  # the third body enters late: absent frames must be zeros
            bodies.append(("333", runner[f]))
        frames.append(bodies)
    p = tmp_path / "S002C001P001R001A050.skeleton"
    p.write_text(ntu.format_skeleton(frames))
    all_bodies = ntu.read_skeleton(p, max_bodies=3)
    assert all_bodies.body_ids == ("111", "222", "333")
    np.testing.assert_allclose(all_bodies.xyz[1], mover[..., :3], atol=1e-5)
    assert (all_bodies.xyz[2, :2] == 0).all() and (all_bodies.tracking[2, :2] == 0).all()
    two = ntu.read_skeleton(p, max_bodies=2)
    assert two.body_ids == ("222", "333")  # the still body is dropped
    np.testing.assert_allclose(two.color_xy[0], 500.0)
    np.testing.assert_allclose(two.color_xy[1, 2:], 500.0)
    np.testing.assert_allclose(two.depth_xy[0], 100.0)
    assert two.conf[0].min() == 1.0 and two.conf[1, :2].max() == 0.0


def test_damaged_files_give_a_clear_format_error(tmp_path, syn_dir):
    good = sorted(syn_dir.glob("*.skeleton"))[0].read_text().splitlines()
    cut = tmp_path / "S001C001P001R001A001.skeleton"
    cut.write_text("\n".join(good[:40]))
    with pytest.raises(KeypointFormatError, match="ends early"):
        ntu.read_skeleton(cut)
    bad = tmp_path / "S001C001P001R001A002.skeleton"
    bad.write_text("\n".join(good[:3] + ["24"] + good[4:]))
    with pytest.raises(KeypointFormatError, match="24 joints instead of 25"):
        ntu.read_skeleton(bad)


def test_kinect_to_h36m_mapping_and_derived_confidence():
    x = np.arange(25 * 3, dtype=float).reshape(25, 3)
    conf = np.ones(25)
    conf[ntu.K["hip_left"]] = 0.5
    conf[ntu.K["neck"]] = 0.0
    y, c = ntu.kinect_to_h36m(x, conf)
    assert y.shape == (17, 3) and c.shape == (17,)
    np.testing.assert_allclose(y[J["pelvis"]], 0.5 * (x[ntu.K["hip_left"]] + x[ntu.K["hip_right"]]))
    np.testing.assert_allclose(y[J["right_knee"]], x[ntu.K["knee_right"]])
    np.testing.assert_allclose(y[J["left_wrist"]], x[ntu.K["wrist_left"]])
    np.testing.assert_allclose(y[J["thorax"]], x[ntu.K["spine_shoulder"]])
    head, neck = x[ntu.K["head"]], x[ntu.K["neck"]]
    np.testing.assert_allclose(y[J["head"]], head + 0.5 * (head - neck))
    assert c[J["pelvis"]] == 0.5 and c[J["left_hip"]] == 0.5 and c[J["right_hip"]] == 1.0
    assert c[J["head"]] == 0.0  # derived from an untracked neck
    assert set(ntu.KINECT_TO_H36M_DOC) == set(range(17))


def test_projection_puts_the_optical_axis_at_the_image_centre_and_up_above_it():
    uv = ntu.project_points(np.array([[0.0, 0.0, 3.0], [0.0, 0.5, 3.0], [0.5, 0.0, 3.0]]))
    np.testing.assert_allclose(uv[0], [960, 540])
    assert uv[1, 1] < 540  # y up in camera space is up in the image (smaller v)
    assert uv[2, 0] < 960  # Kinect +x is the sensor's left: the image's left from the camera's view


def test_synthetic_set_reads_back_with_labels_splits_and_class_names(syn_dir):
    files = ntu.list_skeleton_files(syn_dir)
    assert len(files) == 2 * 2 * len(SYNTHETIC_ACTIONS)
    assert ntu.class_names(syn_dir) == SYNTHETIC_ACTIONS
    assert ntu.class_names(None)[8].startswith("standing up")
    skel = ntu.read_skeleton(files[0])
    assert skel.xyz.shape == (1, 30, 25, 3) and skel.n_frames == 30
    assert set(np.unique(skel.tracking)) <= {1, 2} and (skel.tracking == 2).mean() > 0.9
    train = ntu.load_ntu_folder(syn_dir, "xsub", "train")
    test = ntu.load_ntu_folder(syn_dir, "xsub", "test")
    assert {c.name.subject for c in train} == {1} and {c.name.subject for c in test} == {3}
    assert sorted({c.name.label for c in train}) == [0, 1, 2, 3]
    view_test = ntu.load_ntu_folder(syn_dir, "xview", "test", source="depth")
    assert {c.name.camera for c in view_test} == {1}
    assert view_test[0].xy_px.shape == (1, 30, 17, 2)
    assert view_test[0].xy_px[..., 0].max() < 512  # depth-image pixels
    # the colour coordinates in the file are the pinhole projection of its 3D joints
    xy_color, _ = ntu.skeleton_to_h36m_2d(skel, "color")
    xy_proj, _ = ntu.skeleton_to_h36m_2d(skel, "project")
    np.testing.assert_allclose(xy_color, xy_proj, atol=0.01)


def test_folder_without_skeleton_files_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="No .skeleton files"):
        ntu.list_skeleton_files(tmp_path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        ntu.list_skeleton_files(tmp_path / "missing")


def test_synthetic_actions_move_as_named():
    walk = body_joints("walk", 60)
    assert np.ptp(walk[:, ntu.K["spine_base"], 2]) > 1.0  # travels forward
    sts = body_joints("sit-to-stand", 60)
    pelvis_y = sts[:, ntu.K["spine_base"], 1]
    assert pelvis_y[-1] - pelvis_y[0] > 0.3  # rises from the chair
    arm = body_joints("arm raise", 61)
    assert arm[30, ntu.K["wrist_left"], 1] > arm[30, ntu.K["head"], 1] > arm[0, ntu.K["wrist_left"], 1]
    squat = body_joints("squat", 61)
    assert squat[30, ntu.K["spine_base"], 1] < squat[0, ntu.K["spine_base"], 1] - 0.3
    # feet stay on the floor (ankles at a constant height) in the non-walking actions
    for joints in (sts, squat, arm):
        assert np.ptp(joints[:, ntu.K["ankle_left"], 1]) < 1e-9
    with pytest.raises(ValueError):
        body_joints("dance", 10)


def test_files_without_a_tracked_body_are_skipped(tmp_path, syn_dir):
    import shutil

    for f in sorted(syn_dir.glob("*.skeleton"))[:2]:
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "S001C001P009R001A001.skeleton").write_text(ntu.format_skeleton([[] for _ in range(5)]))
    clips = ntu.load_ntu_folder(tmp_path)
    assert len(clips) == 2 and all(c.name.subject != 9 for c in clips)


def test_binary_cache_gives_the_same_clips_and_follows_file_changes(tmp_path, syn_dir):
    import os

    cache = tmp_path / "cache"
    plain = ntu.load_ntu_folder(syn_dir, "xsub", "test")
    cached = ntu.load_ntu_folder(syn_dir, "xsub", "test", cache_dir=cache)
    again = ntu.load_ntu_folder(syn_dir, "xsub", "test", cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == len(plain)
    for a, b, c in zip(plain, cached, again):
        assert a.name == b.name == c.name
        np.testing.assert_array_equal(a.xy_px, c.xy_px)
        np.testing.assert_array_equal(a.conf, c.conf)
    # a changed file is parsed again, not served stale from the cache
    src = tmp_path / "S001C001P003R001A001.skeleton"
    src.write_text((syn_dir / "S001C001P003R001A001.skeleton").read_text())
    first = ntu.read_skeleton_cached(src, cache)
    text = src.read_text().split("\n")
    text[4] = " ".join(["9.5"] * 11 + ["2"])  # first joint of the first body moves
    src.write_text("\n".join(text))
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    second = ntu.read_skeleton_cached(src, cache)
    assert second.xyz[0, 0, 0, 0] == pytest.approx(9.5) and first.xyz[0, 0, 0, 0] != pytest.approx(9.5)
    assert second.body_ids == first.body_ids
