"""What a run prints to stderr: TensorFlow's start-up notices and the
library's own noise stay off it, while everything else still shows."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.quiet import drop_start_up_notices
from keras_lrm.token_checks import check_token_ids

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lines TensorFlow 2.21 writes on a CPU machine without a CUDA driver.
START_UP = (
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR\n"
    "I0000 00:00:1796563479.894776   10065 port.cc:153] oneDNN custom "
    "operations are on. You may see slightly different numerical results "
    "due to floating-point round-off errors from different computation "
    "orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.\n"
    "I0000 00:00:1796563479.895081   10065 cudart_stub.cc:31] Could not "
    "find cuda drivers on your machine, GPU will not be used.\n"
    "I0000 00:00:1796563480.086511   10065 cpu_feature_guard.cc:227] This "
    "TensorFlow binary is optimized to use available CPU instructions in "
    "performance-critical operations.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.\n"
    "E0000 00:00:1796563483.729022   10065 cuda_platform.cc:52] failed call "
    "to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR "
    "(303)\n"
)
NOTICES = ("absl::InitializeLog", "oneDNN", "Could not find cuda drivers",
           "cpu_feature_guard", "To enable the following instructions",
           "cuInit")


def run_python(code, env_changes, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env.update(env_changes)
    env["PYTHONPATH"] = REPO
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_start_up_notices_are_dropped_and_everything_else_kept():
    real = ("E0000 00:00:1796563490.1 10065 bfc_allocator.cc:47] Allocator "
            "ran out of memory trying to allocate 4.00GiB\n")
    kept = drop_start_up_notices(START_UP + real + "a line of the run\n",
                                 environ={})
    assert kept == real + "a line of the run\n"


def test_a_failed_cuda_probe_is_kept_where_a_driver_is_installed():
    # A driver that is there but fails is news; no driver at all is not.
    probe = [line + "\n" for line in START_UP.splitlines()
             if "cuInit" in line]
    assert drop_start_up_notices("".join(probe), environ={}) == probe[0]
    hidden = {"CUDA_VISIBLE_DEVICES": ""}
    assert drop_start_up_notices(probe[0], environ=hidden) == ""


FAKE_TENSORFLOW = r'''
import os, types, warnings
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is "
            b"called are written to STDERR\n")
os.write(2, b"I0000 1 cudart_stub.cc:31] Could not find cuda drivers on "
            b"your machine, GPU will not be used.\n")
os.write(2, b"E0000 2 some_kernel.cc:1] a real error\n")
warnings.warn("a warning while TensorFlow loads")


def list_physical_devices():
    os.write(2, b"E0000 3 cuda_platform.cc:52] failed call to cuInit: "
                b"UNKNOWN ERROR (303)\n")
    return []


config = types.SimpleNamespace(list_physical_devices=list_physical_devices)
'''


def test_what_tensorflow_writes_while_it_loads_is_kept_in_order(tmp_path):
    """A stand-in `tensorflow` package writes notices, an error and a
    warning while it is imported: only the notices are left out."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    stderr = run_python(
        "import sys\n"
        "sys.path.insert(0, '.')\n"
        "import keras_lrm\n"
        "print('before', file=sys.stderr, flush=True)\n"
        "import tensorflow\n"
        "print('after', file=sys.stderr)\n",
        {"KERAS_LRM_DEFER_IMPORTS": "1"}, tmp_path)
    lines = stderr.splitlines()
    assert lines[0] == "before" and lines[-1] == "after", stderr
    assert lines[1] == "E0000 2 some_kernel.cc:1] a real error", stderr
    assert "UserWarning: a warning while TensorFlow loads" in lines[2]
    assert not [n for n in NOTICES if n in stderr], stderr


def test_importing_tensorflow_through_keras_lrm_is_quiet(tmp_path):
    """No start-up notices; later warnings (a user's own assert, which XLA
    drops) still show: the log level was not raised for the whole run."""
    stderr = run_python(
        "import keras_lrm.data\n"
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "assert len(tf.config.list_logical_devices('CPU')) == 2\n"
        "@tf.function(jit_compile=True)\n"
        "def double(x):\n"
        "    tf.debugging.Assert(tf.reduce_all(x > 0), [x],\n"
        "                        name='users_own_check')\n"
        "    return 2 * x\n"
        "double(tf.ones([1]))\n",
        {}, tmp_path)
    # TensorFlow 2.20 starts absl logging only when XLA first logs, after
    # the import: its one "All log messages before absl::InitializeLog()"
    # line then comes with the run's own output, not at start-up.
    late = ("absl::InitializeLog",) if tf.__version__.startswith("2.20.") \
        else ()
    assert not [n for n in NOTICES if n in stderr and n not in late], stderr
    assert "Ignoring Assert operator users_own_check" in stderr, stderr


def test_level_zero_shows_everything(tmp_path):
    stderr = run_python("import keras_lrm.data",
                        {"TF_CPP_MIN_LOG_LEVEL": "0"}, tmp_path)
    assert "oneDNN custom operations are on" in stderr, stderr


TRAIN_ON_A_STREAM = """
import sys
import keras
import numpy as np
from keras_lrm import Placement
from keras_lrm.data import ByteTokenizer, TextFilesCorpus, prepare
from keras_lrm.data.streams import StreamSource, stream_dataset, train_layout
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training import StatefulLM

rng = np.random.default_rng(1)
with open("text.txt", "wb") as f:
    f.write(b"\\n".join(bytes(rng.integers(97, 123, 40).astype(np.uint8))
                        for _ in range(100)))
manifest = prepare(TextFilesCorpus("text.txt"), ByteTokenizer(),
                   output_dir="records", chunk_size=64, progress=False)
source = StreamSource.from_manifest(manifest, "train")
layout = train_layout(source.num_tokens, 2, 8)
lm = MemoryTransformerLM(256, 1, 16, 2, 32, 8, Placement("last", 1, 8, 8))
model = StatefulLM(lm, 2)
model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=True)
model.fit(stream_dataset(source, layout), steps_per_epoch=1, verbose=0)
"""


def test_xla_training_on_a_stream_prints_no_library_noise(tmp_path):
    """Everything TensorFlow says is shown (level 0), yet nothing about the
    stream readers' buffer or the library's checks that XLA drops."""
    stderr = run_python(TRAIN_ON_A_STREAM, {"TF_CPP_MIN_LOG_LEVEL": "0"},
                        tmp_path)
    assert "oneDNN custom operations are on" in stderr  # level 0 indeed
    assert "buffer_size` is unspecified" not in stderr, stderr
    assert "Ignoring Assert operator" not in stderr, stderr


@pytest.mark.parametrize("jit_compile", [True, False])
def test_token_checks_add_an_assert_only_where_it_can_run(jit_compile):
    graphs = []

    @tf.function(jit_compile=jit_compile)
    def check(ids):
        graphs.append(tf.compat.v1.get_default_graph())
        return check_token_ids(ids, 10)

    check(tf.constant([[1, 2]]))
    asserts = [op for op in graphs[0].get_operations()
               if op.type == "Assert"]
    assert bool(asserts) == (not jit_compile)
    if not jit_compile:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="must lie in"):
            check(tf.constant([[1, 12]]))
    else:  # XLA could not have checked it: the ids pass unchanged
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(check(tf.constant([[1, 12]]))),
            [[1, 12]])
