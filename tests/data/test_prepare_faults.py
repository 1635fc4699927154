"""prepare() under faults: killed processes, shared folders, user files.

The kills are real: a child process runs `prepare` and is stopped with
SIGKILL at a chosen moment (the child only pauses there, by wrapping a
function of the library, so the parent can kill it while the files are in
that state).
"""

import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import CorruptDataError
from keras_lrm.data import StdlibCorpus
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import load_manifest
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens
from keras_lrm.data.files.downloads import download_file
from keras_lrm.data.files.temporaries import OTHER_MACHINE_STALE_SECONDS
from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.data.files.temporaries import temp_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# The child prepares `text` and pauses at `when`, after writing `ready`.
CHILD = """
import os, sys, time
from keras_lrm.data import ByteTokenizer, TextFilesCorpus, prepare
from keras_lrm.data.shards import preparation, record_writer
text, out, ready, when, chunk = sys.argv[1:6]

def pause():
    open(ready, "w").close()
    time.sleep(120)

if when == "shards":
    close = record_writer.SplitWriter._close_shard
    def slow_close(self):
        close(self)
        if len(self.shards) == 3:
            pause()
    record_writer.SplitWriter._close_shard = slow_close
else:
    write = preparation.atomic_write
    def slow_write(path, data):
        if path.endswith("manifest.json"):
            pause()
        write(path, data)
    preparation.atomic_write = slow_write
prepare(TextFilesCorpus(text), ByteTokenizer(), output_dir=out,
        chunk_size=int(chunk), shard_tokens=4 * int(chunk), progress=False)
"""


def write_text(path, num_lines=6000, seed=0):
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "memory", "segment"]
    path.write_text("".join(
        " ".join(words[i] for i in rng.integers(0, 6, 8)) + "\n"
        for _ in range(num_lines)))
    return str(path)


def start_paused(text, out, when, chunk, tmp_path):
    """Starts the child and waits until it pauses at `when`."""
    ready = tmp_path / f"ready-{when}-{chunk}"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, text, out, str(ready), when,
         str(chunk)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not ready.exists():
        if child.poll() is not None:
            raise AssertionError(child.stderr.read().decode()[-2000:])
        if time.monotonic() > deadline:
            kill(child)
            raise AssertionError("the child never paused")
        time.sleep(0.1)
    return child


def kill(child):
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()


def kill_while(text, out, when, chunk, tmp_path):
    """Runs the child until it pauses at `when`, then SIGKILLs it."""
    child = start_paused(text, out, when, chunk, tmp_path)
    kill(child)
    return child.pid


def temporaries(directory):
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def expected_tokens(text, split):
    corpus = TextFilesCorpus(text)
    return np.concatenate([
        ByteTokenizer().tokenize([t]).flat_values.numpy()
        for t in corpus.texts(split)])


def test_kill_while_writing_shards_keeps_the_old_preparation(tmp_path):
    text = write_text(tmp_path / "book.txt")
    out = str(tmp_path / "out")
    old = prepare(TextFilesCorpus(text), ByteTokenizer(), output_dir=out,
                  chunk_size=512, shard_tokens=2048, progress=False)
    # A changed chunk size prepares again; the child dies mid-shards.
    pid = kill_while(text, out, "shards", 1024, tmp_path)
    left = temporaries(old.directory)
    assert left and all(f".tmp-{pid}-" in n for n in left)
    loaded = load_manifest(old.directory, verify="checksum")
    assert loaded.chunk_size == 512
    np.testing.assert_array_equal(read_tokens(loaded, "valid"),
                                  expected_tokens(text, "valid"))
    again = prepare(TextFilesCorpus(text), ByteTokenizer(), output_dir=out,
                    chunk_size=1024, shard_tokens=4096, progress=False)
    assert temporaries(again.directory) == []
    assert load_manifest(again.directory, verify="checksum").chunk_size == \
        1024
    np.testing.assert_array_equal(read_tokens(again, "train"),
                                  expected_tokens(text, "train"))


def test_kill_before_the_manifest_leaves_no_manifest(tmp_path):
    text = write_text(tmp_path / "book.txt")
    out = str(tmp_path / "out")
    pid = kill_while(text, out, "manifest", 1024, tmp_path)
    directory = os.path.join(
        out, TextFilesCorpus(text).folder_name, "bytes")
    shards = [n for n in os.listdir(directory) if n.endswith(".tfrecord")]
    assert shards  # renamed into place, but no manifest names them
    with pytest.raises(CorruptDataError, match="Missing .*manifest.json"):
        load_manifest(directory)
    # The tokenizer's temporaries are the child's, and stale.
    assert all(f".tmp-{pid}-" in n for n in temporaries(directory))
    again = prepare(TextFilesCorpus(text), ByteTokenizer(), output_dir=out,
                    chunk_size=1024, shard_tokens=4096, progress=False)
    assert again.directory == directory
    assert temporaries(directory) == []
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(
            read_tokens(load_manifest(directory, verify="checksum"), split),
            expected_tokens(text, split))


def test_a_running_preparation_keeps_its_temporaries(tmp_path):
    text = write_text(tmp_path / "book.txt")
    out = str(tmp_path / "out")
    child = start_paused(text, out, "shards", 1024, tmp_path)
    try:
        directory = os.path.join(
            out, TextFilesCorpus(text).folder_name, "bytes")
        running = temporaries(directory)
        assert running
        # Another preparation of the same folder, while the child runs.
        done = prepare(TextFilesCorpus(text), ByteTokenizer(),
                       output_dir=out, chunk_size=1024, shard_tokens=4096,
                       progress=False)
        assert temporaries(directory) == running
    finally:
        kill(child)
    load_manifest(done.directory, verify="checksum")
    prepare(TextFilesCorpus(text), ByteTokenizer(), output_dir=out,
            chunk_size=1024, shard_tokens=4096, progress=False)
    assert temporaries(directory) == []


def test_two_text_files_keep_their_own_folders(tmp_path, caplog,
                                              monkeypatch):
    out = str(tmp_path / "out")
    first = write_text(tmp_path / "a.txt", num_lines=300, seed=1)
    second = write_text(tmp_path / "b.txt", num_lines=200, seed=2)
    a = prepare(TextFilesCorpus(first), "bytes", output_dir=out,
                chunk_size=256, progress=False)
    b = prepare(TextFilesCorpus(second), "bytes", output_dir=out,
                chunk_size=256, progress=False)
    assert a.directory != b.directory
    assert os.path.basename(os.path.dirname(a.directory)).startswith("text-")
    for manifest, text in ((a, first), (b, second)):
        np.testing.assert_array_equal(
            read_tokens(load_manifest(manifest.directory, "checksum"),
                        "train"), expected_tokens(text, "train"))
    # The same file, named another way, finds its preparation.
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="keras_lrm.data"):
        again = prepare(TextFilesCorpus("./a.txt"), "bytes",
                        output_dir=out, chunk_size=256, progress=False)
    assert again.directory == a.directory
    assert "Prepared" in caplog.text or "up to date" in caplog.text
    # A changed file at the same path is prepared again, in place.
    with open(first, "a") as f:
        f.write("one more line\n")
    changed = prepare(TextFilesCorpus(first), "bytes", output_dir=out,
                      chunk_size=256, progress=False)
    assert changed.directory == a.directory
    assert sum(changed.num_tokens(s) for s in changed.splits) == \
        sum(a.num_tokens(s) for s in a.splits) + 14
    load_manifest(b.directory, verify="checksum")


def test_a_folder_prepare_did_not_make_is_refused(tmp_path):
    out = tmp_path / "out"
    text = write_text(tmp_path / "a.txt", num_lines=100)
    corpus = TextFilesCorpus(text)
    directory = out / corpus.folder_name / "bytes"
    directory.mkdir(parents=True)
    (directory / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match=r"holds files that keras_lrm did "
                                         r"not write \(notes\.txt\)"):
        prepare(corpus, "bytes", output_dir=str(out), progress=False)
    assert os.listdir(directory) == ["notes.txt"]
    os.remove(directory / "notes.txt")
    (directory / "manifest.json").write_text('{"mine": true}')
    with pytest.raises(ValueError, match=r"manifest\.json is not a "
                                         r"keras_lrm manifest"):
        prepare(corpus, "bytes", output_dir=str(out), progress=False)
    assert (directory / "manifest.json").read_text() == '{"mine": true}'
    assert os.listdir(directory) == ["manifest.json"]
    os.remove(directory / "manifest.json")
    (directory / "tokenizer.json").write_text("{}")
    with pytest.raises(ValueError, match=r"did not write \(tokenizer"):
        prepare(corpus, "bytes", output_dir=str(out), progress=False)
    os.remove(directory / "tokenizer.json")
    (directory / "train-00000-of-00001.tfrecord").write_text("mine")
    with pytest.raises(ValueError, match="did not write"):
        prepare(corpus, "bytes", output_dir=str(out), progress=False)
    assert (directory / "train-00000-of-00001.tfrecord").read_text() == \
        "mine"
    os.remove(directory / "train-00000-of-00001.tfrecord")
    # Only stale temporaries of a run killed before its marker: ours.
    (directory / "train.tmp-0123456789ab").write_text("x")
    prepare(corpus, "bytes", output_dir=str(out), progress=False)
    assert sorted(os.listdir(directory))[:2] == [".keras_lrm_data",
                                                 "manifest.json"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="Cannot make the folder .*file"):
        prepare(corpus, "bytes", output_dir=str(tmp_path / "file"),
                progress=False)
    other = TextFilesCorpus(write_text(tmp_path / "b.txt", num_lines=100))
    (out / other.folder_name).mkdir()
    (out / other.folder_name / "bytes").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        prepare(other, "bytes", output_dir=str(out), progress=False)


def test_own_folder_keeps_user_files_and_adopts_old_preparations(tmp_path):
    out = str(tmp_path / "out")
    corpus = StdlibCorpus(max_bytes=20_000)
    first = prepare(corpus, "bytes", output_dir=out, chunk_size=512,
                    progress=False)
    notes = os.path.join(first.directory, "notes.txt")
    with open(notes, "w") as f:
        f.write("precious")
    # A preparation of an earlier version has no marker: its manifest
    # says it is ours.
    os.remove(os.path.join(first.directory, ".keras_lrm_data"))
    second = prepare(corpus, "bytes", output_dir=out, chunk_size=256,
                     progress=False)
    assert second.chunk_size == 256
    assert os.path.exists(os.path.join(first.directory, ".keras_lrm_data"))
    with open(notes) as f:
        assert f.read() == "precious"


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_stale_temporaries_of_our_files_are_removed(tmp_path):
    out = tmp_path / "out"
    corpus = StdlibCorpus(max_bytes=5_000)
    first = prepare(corpus, "bytes", output_dir=str(out), progress=False)
    directory = first.directory
    machine = machine_id()
    # Another machine's id: any 8 hex digits but this machine's.
    other = "00000000" if machine == "ffffffff" else "ffffffff"
    alive = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f"train.tmp-{dead_pid()}-{machine}-0123abcd",
            "old_form": "valid.tmp-0123456789ab",
            "dead_manifest": f"manifest.json.tmp-{dead_pid()}-{machine}-"
                             "0123abcd",
            "running": f"train.tmp-{alive.pid}-{machine}-0123abcd",
            "this_process": os.path.basename(
                temp_path(os.path.join(directory, "test"))),
            "other_machine_recent": f"train.tmp-12-{other}-0123abcd",
            "other_machine_old": f"test.tmp-12-{other}-0123abcd",
            "user": "notes.txt.tmp-1",
            "user_legacy_form": "thesis.tex.tmp-0123456789ab",
        }
        for name in names.values():
            with open(os.path.join(directory, name), "w") as f:
                f.write("x")
        old = time.time() - OTHER_MACHINE_STALE_SECONDS - 60
        os.utime(os.path.join(directory, names["other_machine_old"]),
                 (old, old))
        prepare(corpus, "bytes", output_dir=str(out), chunk_size=999,
                progress=False)
        left = set(os.listdir(directory))
    finally:
        alive.kill()
        alive.wait()
    gone = {"dead", "old_form", "dead_manifest", "other_machine_old"}
    for key, name in names.items():
        assert (name in left) == (key not in gone), key


def test_download_removes_its_stale_temporaries_only(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"payload")
    target = tmp_path / "data"
    target.mkdir()
    machine = machine_id()
    stale = target / f"file.bin.tmp-{dead_pid()}-{machine}-0123abcd"
    stale.write_bytes(b"half")
    own = target / os.path.basename(temp_path(str(target / "file.bin")))
    own.write_bytes(b"being written by this process")
    other = target / f"other.bin.tmp-{dead_pid()}-{machine}-0123abcd"
    other.write_bytes(b"not this download's")
    download_file(source.as_uri(), str(target / "file.bin"))
    assert sorted(os.listdir(target)) == sorted(
        ["file.bin", own.name, other.name])


def test_empty_corpora_are_refused_at_preparation(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match=r"empty\.txt\): a text corpus "
                                         r"needs text"):
        TextFilesCorpus(str(tmp_path / "empty.txt"))
    folder = tmp_path / "empty_py"
    folder.mkdir()
    (folder / "blank.py").write_text("")
    with pytest.raises(ValueError, match=r"holds no text .* are empty"):
        prepare(StdlibCorpus(root=str(folder)), "bytes",
                output_dir=str(tmp_path / "out"), progress=False)
    directory = tmp_path / "out" / StdlibCorpus(
        root=str(folder)).folder_name / "bytes"
    assert not (directory / "manifest.json").exists()
    assert temporaries(directory) == []

