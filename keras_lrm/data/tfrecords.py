"""Deprecated: use `keras_lrm.data` (or `keras_lrm.data.shards`).

`keras_lrm.data.tfrecords` became the `keras_lrm.data.shards` package;
this module keeps the old import path working for one release.
"""

import warnings

from keras_lrm.data.shards.manifest import Manifest
from keras_lrm.data.shards.manifest import load_manifest
from keras_lrm.data.shards.manifest_checks import CorruptDataError
from keras_lrm.data.shards.manifest_checks import token_dtype
from keras_lrm.data.shards.preparation import prepare
from keras_lrm.data.shards.records import FEATURES
from keras_lrm.data.shards.records import TF_TYPES
from keras_lrm.data.shards.records import decode_record
from keras_lrm.data.shards.records import read_tokens

warnings.warn(
    "`keras_lrm.data.tfrecords` is deprecated: import `prepare`, "
    "`load_manifest`, `read_tokens`, `decode_record`, `Manifest` and "
    "`CorruptDataError` from `keras_lrm.data` (or `keras_lrm.data.shards`).",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "FEATURES",
    "TF_TYPES",
    "CorruptDataError",
    "Manifest",
    "decode_record",
    "load_manifest",
    "prepare",
    "read_tokens",
    "token_dtype",
]
