"""COCO run-length encoding: kept here for code that imports it from its documented place;
the implementation is the kernel's, workbench.model.rle."""

from workbench.model.rle import (
    Counts,
    area,
    bbox,
    compress,
    decode,
    encode,
    from_string,
    to_string,
)

__all__ = ["Counts", "area", "bbox", "compress", "decode", "encode", "from_string", "to_string"]
