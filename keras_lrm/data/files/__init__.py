"""File helpers on `tf.io.gfile` (local paths and `gs://` alike): atomic
writes and stale temporaries (`temporaries.py`), sizes and sha256
fingerprints (`fingerprints.py`), and downloads (`downloads.py`)."""

from keras_lrm.data.files.downloads import download_file
from keras_lrm.data.files.downloads import extract_zip
from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import fingerprint
from keras_lrm.data.files.fingerprints import location_key
from keras_lrm.data.files.fingerprints import sha256_file
from keras_lrm.data.files.temporaries import OTHER_MACHINE_STALE_SECONDS
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import is_stale_temp
from keras_lrm.data.files.temporaries import is_temp_path
from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.data.files.temporaries import process_alive
from keras_lrm.data.files.temporaries import remove_quietly
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.data.files.temporaries import temp_path

__all__ = [
    "OTHER_MACHINE_STALE_SECONDS",
    "atomic_write",
    "download_file",
    "extract_zip",
    "file_size",
    "fingerprint",
    "is_stale_temp",
    "is_temp_path",
    "location_key",
    "machine_id",
    "process_alive",
    "remove_quietly",
    "remove_temp_files",
    "sha256_file",
    "temp_path",
]
