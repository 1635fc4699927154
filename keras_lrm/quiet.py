"""TensorFlow's start-up notices, kept off the console where they say nothing.

Importing TensorFlow on a machine without CUDA prints, before anything a run
has to say, lines such as

    WARNING: All log messages before absl::InitializeLog() is called ...
    I0000 ... port.cc:153] oneDNN custom operations are on. ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine,
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... (303)

`TF_CPP_MIN_LOG_LEVEL` cannot hide them and nothing else: TensorFlow reads it
once, when it is imported, so raising it "around the import" raises it for
the whole run (later warnings and errors of the run vanish with it), and the
lines written before its logger starts ignore it anyway. Hiding the GPUs
(`CUDA_VISIBLE_DEVICES=""`, `tf.config.set_visible_devices([], "GPU")`) does
not stop the probe either.

So `quiet_tensorflow_start_up()` lets the first import of TensorFlow (whoever
imports it: Keras, the data pipeline) and its probe of the physical devices
write to a temporary file instead of stderr, then writes that file to stderr
without exactly those notices (`drop_start_up_notices`). Every other line,
warnings and errors included, is written as it came, in order. The failed
`cuInit` is dropped only where no GPU is expected: no CUDA driver is
installed, or `CUDA_VISIBLE_DEVICES` hides every GPU. Set
`TF_CPP_MIN_LOG_LEVEL=0` to see everything TensorFlow says.
"""

import contextlib
import importlib.util
import os
import sys

# Lines that carry no news for the run, wherever they appear.
_NOTICES = (
    "All log messages before absl::InitializeLog() is called are written "
    "to STDERR",
    "] oneDNN custom operations are on.",
    "] This TensorFlow binary is optimized to use available CPU "
    "instructions",
    "To enable the following instructions:",  # the line above, continued
    "] Could not find cuda drivers on your machine, GPU will not be used.",
)
# The failed CUDA probe: dropped only where no GPU is expected.
_NO_DRIVER = "] Could not find cuda drivers on your machine"
_FAILED_CUINIT = "] failed call to cuInit:"


def drop_start_up_notices(text, environ=None):
    """`text` (TensorFlow's start-up output) without its routine notices.

    Args:
        text: what TensorFlow wrote to stderr while it was imported and
            looked for devices.
        environ: the environment (default `os.environ`); its
            `CUDA_VISIBLE_DEVICES` says whether GPUs were hidden on purpose.

    Returns:
        `text` without the lines listed in the module docstring; every
        other line is kept, in order.
    """
    environ = os.environ if environ is None else environ
    lines = text.splitlines(keepends=True)
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    no_gpu_expected = (any(_NO_DRIVER in line for line in lines)
                       or (visible is not None
                           and visible.strip() in ("", "-1")))
    kept = []
    for line in lines:
        if any(notice in line for notice in _NOTICES):
            continue
        if no_gpu_expected and _FAILED_CUINIT in line:
            continue
        kept.append(line)
    return "".join(kept)


def quiet_tensorflow_start_up(environ=None):
    """Keeps TensorFlow's start-up notices off stderr (see the module doc).

    Takes effect at the first import of TensorFlow, so it costs nothing
    where TensorFlow is never imported (a recipe's `--help`). Does nothing
    if TensorFlow is already imported or `TF_CPP_MIN_LOG_LEVEL` is `0`.

    Args:
        environ: the environment (default `os.environ`).

    Returns:
        True if the first import of TensorFlow will be quiet.
    """
    environ = os.environ if environ is None else environ
    if "tensorflow" in sys.modules:
        return False
    if environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0":
        return False
    if not any(isinstance(finder, _QuietTensorFlowFinder)
               for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
    return True


class _QuietTensorFlowFinder:
    """Finds `tensorflow` once, with a loader that imports it quietly (a
    meta path finder, as `importlib.abc.MetaPathFinder` describes)."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once: this import only
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader:
    """Runs TensorFlow's own loader, and its device probe, quietly."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_source, resource readers, ...
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_without_notices():
            self._loader.exec_module(module)
            # The CUDA probe runs when devices are first listed. Listing
            # the physical ones leaves the runtime free to configure
            # (logical devices, memory growth). Should it fail, it fails
            # again, loudly, where the devices are used.
            try:
                module.config.list_physical_devices()
            except Exception:  # noqa: BLE001
                pass
        # Later users of the module see TensorFlow's own loader.
        module.__loader__ = module.__spec__.loader = self._loader


@contextlib.contextmanager
def _stderr_without_notices():
    """Sends stderr (file descriptor 2, where TensorFlow's C++ logs go) to
    a temporary file, then writes it to stderr without the notices."""
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to redirect
        saved = None
    if saved is None:
        yield
        return
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError,
                                         AttributeError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                text = captured.read().decode("utf-8", "replace")
                kept = drop_start_up_notices(text)
                data = kept.encode("utf-8")
                while data:
                    data = data[os.write(2, data):]
    finally:
        os.close(saved)
