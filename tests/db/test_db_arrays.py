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


def _one_shot_blob(a: np.ndarray) -> bytes:
    """The format written out by hand (magic, header, zlib of the whole byte-shuffled payload in one call): the
    reference a streamed encoder must match byte for byte."""
    import json
    import struct
    import zlib

    raw = np.ascontiguousarray(a).tobytes()
    raw = np.frombuffer(raw, dtype=np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()
    header = json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "shuffle": True}).encode()
    return b"GSA1" + struct.pack("<I", len(header)) + header + zlib.compress(raw, 6)


def _long_pose_like(n: int = 6000, d: int = 512) -> np.ndarray:
    t = np.linspace(0, 60, n)[:, None]
    return (np.sin(t + np.arange(d)[None, :] * 0.01) * 0.5).astype(np.float32)  # smooth per-frame channels


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_streamed_blob_equals_one_shot_format_and_round_trips(monkeypatch, chunk):
    """Slices of any size (one row, part of a row, many rows) give the very bytes of the one-call format, and
    decode back exactly; the cast to float16 per slice equals the whole-array cast."""
    import gaitscope.db.arrays as arrays

    monkeypatch.setattr(arrays, "CHUNK_BYTES", chunk)
    rng = np.random.default_rng(3)
    for a in (rng.normal(size=(300, 17, 3)).astype(np.float32), rng.normal(size=(257, 33)),
              _long_pose_like(400, 64)[:, ::3], np.float64(2.5) * np.ones(())):
        assert encode_array(a) == _one_shot_blob(np.asarray(a))
        np.testing.assert_array_equal(decode_array(encode_array(a)), a)
    a = _long_pose_like(500, 40)
    assert encode_array(a, np.float16) == _one_shot_blob(a.astype(np.float16))
    np.testing.assert_array_equal(decode_array(encode_array(a, np.float16)), a.astype(np.float16))


def test_long_arrays_are_encoded_and_decoded_without_whole_copies():
    """A 10-minute video's per-frame embedding is the largest array stored: the encoder must not hold copies of
    it (cast, bytes, shuffled bytes: 3x before), the decoder not more than the result plus a slice."""
    import tracemalloc

    a = _long_pose_like(12000)  # 12000 x 512 float32, 25 MB; float16 12 MB (before: >= 3 copies of each)
    half = a.size * 2
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        blob = encode_array(a, np.float16)
        enc_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = decode_array(blob)
        dec_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(blob) < 0.2 * half  # smooth data compresses well: the blob itself is small
    assert enc_peak < 0.5 * half, enc_peak / half
    assert dec_peak < 1.5 * half, dec_peak / half  # the result itself, plus slices of about 1 MB
    np.testing.assert_array_equal(out, a.astype(np.float16))


def test_an_incompressible_long_array_is_encoded_with_about_one_blob_of_memory():
    """Noise-like data (a per-frame embedding compresses by about 20 % only): the encoder holds the growing blob
    and one slice, not the blob twice (parts, then joined) nor the cast and shuffled copies of the input."""
    import tracemalloc

    a = np.random.default_rng(0).normal(size=(12000, 512)).astype(np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        blob = encode_array(a, np.float16)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(blob) > 0.6 * a.size * 2  # it really is incompressible
    assert peak < 1.5 * len(blob), peak / len(blob)
    np.testing.assert_array_equal(decode_array(blob), a.astype(np.float16))
