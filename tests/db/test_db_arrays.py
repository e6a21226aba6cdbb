"""Array blobs: exact round trips, declared dtypes, compactness, and refusal of foreign/damaged blobs."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.db.arrays import decode_array, decode_bundle, encode_array, encode_bundle
from gaitscope.errors import DatabaseError


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, bool])
@pytest.mark.parametrize("shape", [(0,), (7,), (5, 17, 3), (1, 1, 1, 2)])
def test_array_round_trip_is_exact(dtype, shape):
    rng = np.random.default_rng(1)
    a = (rng.normal(0, 100, size=shape)).astype(dtype)
    b = decode_array(encode_array(a))
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    b[...] = 0  # decoded arrays are writeable copies


def test_cast_on_encode_and_none_is_null():
    a = np.linspace(0, 1, 11)
    b = decode_array(encode_array(a, np.float32))
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-7)
    assert decode_array(None) is None


def test_non_contiguous_and_fortran_arrays():
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for view in (a[:, ::2], np.asfortranarray(a), a.transpose(2, 0, 1)):
        np.testing.assert_array_equal(decode_array(encode_array(view)), view)


def test_shuffle_makes_pose_data_smaller():
    """Smooth joint trajectories: byte shuffling must help zlib (that is why it exists)."""
    t = np.linspace(0, 10, 600)[:, None, None]
    poses = (np.sin(t + np.arange(17)[None, :, None] * 0.3 + np.arange(3)) * 0.5).astype(np.float32)
    shuffled, plain = len(encode_array(poses)), len(encode_array(poses, shuffle=False))
    assert shuffled < plain
    assert shuffled < poses.nbytes * 0.9


def test_object_arrays_are_refused():
    with pytest.raises(DatabaseError):
        encode_array(np.array(["a", "b"], dtype=object))


def test_damaged_or_foreign_blobs_raise_database_error():
    good = encode_array(np.arange(10.0))
    with pytest.raises(DatabaseError):
        decode_array(b"\x93NUMPY" + good[6:])
    with pytest.raises(DatabaseError):
        decode_array(good[:-5] + b"xxxxx")
    with pytest.raises(DatabaseError):
        decode_bundle(good)


def test_bundle_round_trip_skips_none():
    arrays = {"frame_index": np.arange(5), "valid": np.array([True, False, True, True, False]), "none": None,
              "feet:left_heel": np.ones((5, 3), np.float32)}
    out = decode_bundle(encode_bundle(arrays))
    assert list(out) == ["frame_index", "valid", "feet:left_heel"]
    for k in out:
        np.testing.assert_array_equal(out[k], arrays[k])
    assert decode_bundle(None) == {}
    assert decode_bundle(encode_bundle({})) == {}
