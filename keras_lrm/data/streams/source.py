"""`StreamSource`: where the tokens of one prepared split are."""

import dataclasses

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.data.shards.records import TF_TYPES


@dataclasses.dataclass(frozen=True)
class StreamSource:
    """Where the tokens of one split are: shards of fixed-size records.

    Attributes:
        files: shard paths in token order.
        num_tokens: tokens in the split.
        chunk_size: tokens per record (the last record may be shorter).
        dtype: stored integer dtype ("uint8", "uint16" or "int32").
    """

    files: tuple
    num_tokens: int
    chunk_size: int
    dtype: str

    def __post_init__(self):
        files = self.files
        if isinstance(files, (str, bytes)) or \
                not isinstance(files, (list, tuple)) or \
                not all(isinstance(f, str) and f for f in files):
            raise ValueError(
                "`files` must be a list or tuple of shard paths. "
                f"Received: files={files!r}"
            )
        object.__setattr__(self, "files", tuple(files))
        check_non_negative("num_tokens", self.num_tokens)
        check_positive("chunk_size", self.chunk_size)
        if self.dtype not in TF_TYPES:
            raise ValueError(
                f"`dtype` must be one of {tuple(TF_TYPES)}. "
                f"Received: dtype={self.dtype!r}"
            )
        if self.num_tokens and not self.files:
            raise ValueError(
                f"`files` is empty but `num_tokens` is {self.num_tokens}. "
                f"Received: files={files!r}"
            )

    @classmethod
    def from_manifest(cls, manifest, split):
        return cls(tuple(manifest.files(split)), manifest.num_tokens(split),
                   manifest.chunk_size, manifest.dtype)
