import numpy as np
import pytest

from workbench.model import rle

# Column-major: col 0 reads 0,1,0 and col 1 reads 1,1,0.
SMALL = np.array([[0, 1], [1, 1], [0, 0]], dtype=np.uint8)
# A 10x5 block of ones in the top-left corner of a 30x40 mask, as COCO writes it.
CROWD_COUNTS = [0, 10, 20, 10, 20, 10, 20, 10, 20, 10, 1070]
CROWD_STRING = "0:d00000000jP1"


def _crowd_mask() -> np.ndarray:
    mask = np.zeros((30, 40), np.uint8)
    mask[0:10, 0:5] = 1
    return mask


def test_encode_reads_columns_and_starts_with_zeros():
    assert rle.encode(SMALL) == [1, 1, 1, 2, 1]
    assert rle.encode(np.ones((2, 2))) == [0, 4]
    assert rle.encode(np.zeros((2, 3), bool)) == [6]
    assert rle.encode(np.zeros((0, 0))) == [0]


def test_encode_refuses_a_mask_that_is_not_2d():
    with pytest.raises(ValueError, match="2-D"):
        rle.encode(np.zeros((2, 2, 2)))


def test_decode_inverts_encode_for_lists_and_strings():
    assert rle.decode([1, 1, 1, 2, 1], [3, 2]).tolist() == SMALL.tolist()
    assert rle.decode(CROWD_STRING, [30, 40]).tolist() == _crowd_mask().tolist()
    assert rle.decode(CROWD_STRING.encode(), (30, 40)).dtype == np.uint8


def test_string_form_matches_the_coco_reference_value():
    assert rle.encode(_crowd_mask()) == CROWD_COUNTS
    assert rle.to_string(CROWD_COUNTS) == CROWD_STRING
    assert rle.from_string(CROWD_STRING) == CROWD_COUNTS


def test_string_form_round_trips_negative_deltas_and_large_runs():
    # Run 3 is 98 shorter than run 1 (negative delta); run 4 needs several 5-bit groups.
    counts = [5, 100, 3, 2, 1_000_000, 0, 7]
    text = rle.to_string(counts)
    assert rle.from_string(text) == counts
    assert rle.from_string("") == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0:d0 ", "characters outside"), ("0:d00000000jP", "middle of a number")],
)
def test_from_string_rejects_malformed_strings(text, problem):
    with pytest.raises(ValueError, match=problem):
        rle.from_string(text)


def test_decode_rejects_counts_that_do_not_cover_the_mask():
    with pytest.raises(ValueError, match="cover 5 pixels"):
        rle.decode([1, 1, 1, 1, 1], [3, 2])
    with pytest.raises(ValueError, match="negative"):
        rle.decode([7, -1], [3, 2])
    with pytest.raises(ValueError, match="height, width"):
        rle.decode([6], [3])


def test_area_and_bbox():
    assert rle.area(CROWD_STRING) == 50
    assert rle.bbox(CROWD_STRING, [30, 40]) == (0, 0, 5, 10)
    assert rle.bbox([1, 1, 1, 2, 1], [3, 2]) == (0, 0, 2, 2)
    assert rle.bbox([6], [3, 2]) == (0, 0, 0, 0)


def test_bbox_of_a_run_wrapping_into_the_next_column_spans_the_height():
    mask = np.zeros((4, 3), np.uint8)
    mask[3, 0] = 1
    mask[0, 1] = 1  # one run in column-major order, from the bottom of col 0 to the top of col 1
    assert rle.encode(mask) == [3, 2, 7]
    assert rle.bbox(rle.encode(mask), [4, 3]) == (0, 0, 2, 4)


def test_compress_accepts_both_forms_and_checks_them():
    assert rle.compress({"size": [30, 40], "counts": CROWD_COUNTS}) == {
        "size": [30, 40],
        "counts": CROWD_STRING,
    }
    assert (
        rle.compress({"size": [30, 40], "counts": CROWD_STRING.encode()})["counts"] == CROWD_STRING
    )
    with pytest.raises(ValueError, match="cover"):
        rle.compress({"size": [30, 41], "counts": CROWD_STRING})
    with pytest.raises(ValueError, match="non-negative integers"):
        rle.compress({"size": [2, 2], "counts": [1, "3"]})
    with pytest.raises(ValueError, match="height, width"):
        rle.compress({"size": [True, 4], "counts": [4]})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matches_pycocotools_on_random_masks():
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(7)
    for case in range(200):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        if case % 2:
            mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        else:  # blobs give long runs, wrapping columns and negative deltas
            mask = np.zeros((h, w), np.uint8)
            y, x = rng.integers(0, h), rng.integers(0, w)
            mask[y : y + int(rng.integers(1, h + 1)), x : x + int(rng.integers(1, w + 1))] = 1
        ref = mask_api.encode(np.asfortranarray(mask))
        text = rle.to_string(rle.encode(mask))
        assert text == ref["counts"].decode()
        assert rle.area(text) == int(mask_api.area(ref))
        assert list(rle.bbox(text, [h, w])) == mask_api.toBbox(ref).tolist()
        assert (rle.decode(text, [h, w]) == mask_api.decode(ref)).all()
        from_list = mask_api.frPyObjects({"size": [h, w], "counts": rle.encode(mask)}, h, w)
        assert from_list["counts"].decode() == text
