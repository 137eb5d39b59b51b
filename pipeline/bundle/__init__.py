"""The versioned, atomic, pickle-free bundle the pipeline writes and the explorer reads.

``format`` (what a bundle is on disk, its layout), ``reading`` (``load_bundle``,
``Bundle``), ``writing`` (``write_bundle``, atomic) and ``lazy`` (arrays read on
first access, the big ones memory-mapped). ``onnx_link`` (beside the export)
points a graph's weights into model.safetensors.
"""
from __future__ import annotations

from ..errors import BundleError
from .format import FILES, FORMAT, FORMAT_VERSION, REQUIRED_META, TRACK_COLUMNS, WEIGHTS, meta_hash, sha256_file
from .lazy import MMAP_FROM, LazyArrays
from .reading import Bundle, check_files, load_bundle, read_meta
from .writing import recover_bundle, remove_stale_temps, write_bundle

__all__ = ["FILES", "FORMAT", "FORMAT_VERSION", "MMAP_FROM", "REQUIRED_META", "TRACK_COLUMNS", "WEIGHTS", "Bundle",
           "BundleError", "LazyArrays", "check_files", "load_bundle", "meta_hash", "read_meta", "recover_bundle",
           "remove_stale_temps", "sha256_file", "write_bundle"]
