"""The bad-input table of keras_lrm.data: each row's error, type and text.

Every row is `(entry point, bad input, call, error type, message pattern)`;
`call(ctx)` makes the bad call. `docs/errors.md` lists the same rows
(`python -m tests.data.test_errors_data` prints them as Markdown).
"""

import json
import os
import shutil
import socket
import types
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import CorruptDataError
from keras_lrm.data import Enwik8Corpus
from keras_lrm.data import SentencePieceTokenizer
from keras_lrm.data import StdlibCorpus
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import TFDSCorpus
from keras_lrm.data import WikiText103Corpus
from keras_lrm.data import WordTokenizer
from keras_lrm.data import decode_record
from keras_lrm.data import get_corpus
from keras_lrm.data import get_tokenizer
from keras_lrm.data import listops
from keras_lrm.data import load_manifest
from keras_lrm.data import load_tokenizer
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens
from keras_lrm.data.files.downloads import download_file
from keras_lrm.data.files.downloads import extract_zip
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import distribute_streams
from keras_lrm.data.streams import eval_layout
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.data.synthetic import SyntheticTask
from keras_lrm.data.synthetic import answer_accuracy
from keras_lrm.data.synthetic import dataset
from keras_lrm.data.synthetic import generate
from keras_lrm.data.synthetic import get_task
from keras_lrm.data.synthetic import longest_length
from keras_lrm.data.synthetic import render
from keras_lrm.data.synthetic import split_windows
from tests.data import samples


class Context:
    """Files a row needs, made in the row's own `tmp_path`."""

    def __init__(self, tmp_path, prepared):
        self.tmp = tmp_path
        self._prepared = prepared

    def path(self, name, data=b""):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    def preparation(self):
        """A copy of a small byte-level preparation (chunk_size 100)."""
        directory = self.tmp / "prepared"
        shutil.copytree(self._prepared, directory)
        return str(directory)

    def edited(self, edit):
        """A preparation whose manifest.json went through `edit(data)`."""
        directory = self.preparation()
        path = os.path.join(directory, "manifest.json")
        with open(path) as f:
            data = json.load(f)
        edit(data)
        with open(path, "w") as f:
            json.dump(data, f)
        return directory

    def enwik8_zip(self):
        _, archive, _ = samples.write_enwik8(self.tmp, num_bytes=20_000)
        return archive.read_bytes()

    def source(self, files=("a.tfrecord",), num_tokens=10, chunk_size=4):
        return StreamSource(files, num_tokens, chunk_size, "uint8")


def setting(key, value):
    def edit(data):
        data[key] = value
    return edit


def first_entry(key, value):
    def edit(data):
        data["splits"]["train"]["files"][0][key] = value
    return edit


def damage_shard(how):
    def call(ctx):
        directory = ctx.preparation()
        manifest = load_manifest(directory)
        shard = manifest.files("train")[0]
        if how == "missing":
            os.remove(shard)
        elif how == "truncated":
            with open(shard, "r+b") as f:
                f.truncate(10)
        else:
            with open(shard, "r+b") as f:
                f.seek(20)
                byte = f.read(1)
                f.seek(20)
                f.write(bytes([byte[0] ^ 0xFF]))
        load_manifest(directory, verify="checksum")
    return call


def user_folder(ctx):
    out = ctx.tmp / "out"
    corpus = StdlibCorpus(max_bytes=2_000)
    ctx.path(f"out/{corpus.folder_name}/bytes/notes.txt", b"mine")
    prepare(corpus, "bytes", output_dir=str(out), progress=False)


def foreign_manifest(ctx):
    corpus = StdlibCorpus(max_bytes=2_000)
    ctx.path(f"out/{corpus.folder_name}/bytes/manifest.json", b"{}")
    prepare(corpus, "bytes", output_dir=str(ctx.tmp / "out"),
            progress=False)


def empty_sources(ctx):
    ctx.path("py/empty.py")
    prepare(StdlibCorpus(root=str(ctx.tmp / "py")), "bytes",
            output_dir=str(ctx.tmp / "out"), progress=False)


class WideTokenizer(ByteTokenizer):
    vocab_size = 100


def enwik8_without_member(ctx):
    path = ctx.tmp / "enwik8.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    Enwik8Corpus(str(path), allow_short=True)


def enwik8_damaged_member(ctx):
    data = bytearray(ctx.enwik8_zip())
    data[100] ^= 0xFF
    data[200] ^= 0xFF
    corpus = Enwik8Corpus(ctx.path("bad/enwik8.zip", bytes(data)),
                          allow_short=True)
    b"".join(corpus.texts("train"))


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/enwik8.zip"


def unsafe_zip(ctx):
    path = ctx.tmp / "unsafe.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../escape.txt", "x")
    extract_zip(str(path), str(ctx.tmp / "out"))


NOT_INT = r"must be an integer >= 1"
MANIFEST = r"manifest\.json is damaged: "
V = ValueError
C = CorruptDataError
F = FileNotFoundError
STDLIB = StdlibCorpus(max_bytes=2_000)

ROWS = [
    # prepare
    ("prepare", "corpus='stdlib' (a name)",
     lambda c: prepare("stdlib", "bytes", output_dir=str(c.tmp)),
     V, r"`corpus` must be a corpus"),
    ("prepare", "tokenizer='bpe'",
     lambda c: prepare(STDLIB, "bpe", output_dir=str(c.tmp)),
     V, r"`tokenizer` must be a tokenizer, or the name"),
    ("prepare", "chunk_size=0",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), chunk_size=0),
     V, r"`chunk_size` " + NOT_INT),
    ("prepare", "chunk_size=1.5",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), chunk_size=1.5),
     V, r"`chunk_size` " + NOT_INT),
    ("prepare", "chunk_size=True",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), chunk_size=True),
     V, r"`chunk_size` " + NOT_INT),
    ("prepare", "shard_tokens=-1",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), shard_tokens=-1),
     V, r"`shard_tokens` " + NOT_INT),
    ("prepare", "splits='dev'",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), splits="dev"),
     V, r"`splits` must name distinct splits"),
    ("prepare", "splits=('train', 'train')",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp),
                       splits=("train", "train")),
     V, r"`splits` must name distinct splits"),
    ("prepare", "verify_existing='sha'",
     lambda c: prepare(STDLIB, "bytes", str(c.tmp), verify_existing="sha"),
     V, r"`verify_existing` must be True, False, None"),
    ("prepare", "output_dir=None",
     lambda c: prepare(STDLIB, "bytes", output_dir=None),
     V, r"`output_dir` must be a folder path"),
    ("prepare", "output_dir inside a file",
     lambda c: prepare(STDLIB, "bytes", output_dir=c.path("file")),
     V, r"Cannot make the folder .*file"),
    ("prepare", "the folder holds a user's files",
     user_folder, V, r"holds files that keras_lrm did not write "
                     r"\(notes\.txt\)"),
    ("prepare", "the folder holds another tool's manifest.json",
     foreign_manifest, V, r"manifest\.json is not a keras_lrm manifest"),
    ("prepare", "a corpus whose files are all empty",
     empty_sources, V, r"holds no text .* are empty"),
    ("prepare", "a tokenizer emitting ids >= its vocab_size",
     lambda c: prepare(STDLIB, WideTokenizer(), str(c.tmp), progress=False),
     V, r"Token id \d+ is outside \[0, 100\) in document"),
    # get_corpus
    ("get_corpus", "name='wiki'", lambda c: get_corpus("wiki"),
     V, r"`name` must be one of \('stdlib'"),
    ("get_corpus", "'text' without path", lambda c: get_corpus("text"),
     V, r"Corpus 'text' needs `path`"),
    ("get_corpus", "an unknown option max_byte=5",
     lambda c: get_corpus("stdlib", max_byte=5),
     V, r"StdlibCorpus takes the options \['max_bytes'\], not "
        r"\['max_byte'\]"),
    ("get_corpus", "'enwik8' with a misspelt option",
     lambda c: get_corpus("enwik8", c.path("enwik8", b"x"), allow_shrt=1),
     V, r"Enwik8Corpus takes the options"),
    # Enwik8Corpus
    ("Enwik8Corpus", "a missing file",
     lambda c: Enwik8Corpus(str(c.tmp / "enwik8.zip")),
     F, r"No enwik8 file at `path`"),
    ("Enwik8Corpus", "garbage enwik8.zip (5 bytes)",
     lambda c: Enwik8Corpus(c.path("enwik8.zip", b"hello")),
     V, r"enwik8\.zip is not a zip archive, or a truncated one"),
    ("Enwik8Corpus", "a truncated enwik8.zip",
     lambda c: Enwik8Corpus(c.path("cut/enwik8.zip",
                                   c.enwik8_zip()[:3000])),
     V, r"enwik8\.zip is not a zip archive, or a truncated one"),
    ("Enwik8Corpus", "a zip without the enwik8 member",
     enwik8_without_member, V, r"enwik8\.zip holds no member 'enwik8'"),
    ("Enwik8Corpus.texts", "a zip whose member is damaged",
     enwik8_damaged_member, V, r"enwik8\.zip is damaged: reading its "
                               r"train split failed"),
    ("Enwik8Corpus", "a file shorter than 10^8 bytes",
     lambda c: Enwik8Corpus(c.path("enwik8", b"abc\n")),
     V, r"enwik8 must hold at least 100000000 bytes"),
    ("Enwik8Corpus.texts", "split='dev'",
     lambda c: next(Enwik8Corpus(c.path("enwik8", b"abc\n"),
                                 allow_short=True).texts("dev")),
     V, r"`split` must be one of"),
    # WikiText103Corpus
    ("WikiText103Corpus", "directory=5", lambda c: WikiText103Corpus(5),
     V, r"`directory` must be a folder path"),
    ("WikiText103Corpus", "a folder without the token files",
     lambda c: WikiText103Corpus(str(c.tmp)),
     F, r"Missing .*wiki\.train\.tokens"),
    # TextFilesCorpus
    ("TextFilesCorpus", "pattern=''", lambda c: TextFilesCorpus(""),
     V, r"`pattern` must be a path, folder or glob"),
    ("TextFilesCorpus", "a glob matching nothing",
     lambda c: TextFilesCorpus(str(c.tmp / "*.txt")),
     F, r"No file matches `pattern`"),
    ("TextFilesCorpus", "an empty file",
     lambda c: TextFilesCorpus(c.path("empty.txt")),
     V, r"file\(s\) matching `pattern` are empty"),
    ("TextFilesCorpus", "name='a/b'",
     lambda c: TextFilesCorpus(c.path("a.txt", b"x\n"), name="a/b"),
     V, r"`name` must be a non-empty string without '/'"),
    # StdlibCorpus
    ("StdlibCorpus", "max_bytes=0", lambda c: StdlibCorpus(max_bytes=0),
     V, r"`max_bytes` " + NOT_INT),
    ("StdlibCorpus", "root that is not a folder",
     lambda c: StdlibCorpus(root=str(c.tmp / "none")),
     F, r"`root` must be an existing folder"),
    # TFDSCorpus
    ("TFDSCorpus", "name=''", lambda c: TFDSCorpus(""),
     V, r"`name` must be a TFDS dataset name"),
    ("TFDSCorpus", "text_key=1", lambda c: TFDSCorpus("pg19", text_key=1),
     V, r"`text_key` must be a feature name or None"),
    ("TFDSCorpus.texts", "a dataset not prepared in data_dir",
     lambda c: next(TFDSCorpus("tiny_shakespeare",
                               data_dir=str(c.tmp)).texts("train")),
     F, r"TFDS dataset 'tiny_shakespeare' is not prepared in"),
    ("TFDSCorpus.texts", "split='dev'",
     lambda c: next(TFDSCorpus("tiny_shakespeare").texts("dev")),
     V, r"`split` must be one of"),
    # downloads
    ("download_file", "no network (a refused connection)",
     lambda c: download_file(closed_port_url(), str(c.tmp / "enwik8.zip")),
     ConnectionError, r"Could not download .* may have no internet access"),
    ("extract_zip", "a file that is not a zip",
     lambda c: extract_zip(c.path("w.zip", b"garbage"), str(c.tmp)),
     V, r"w\.zip is not a readable zip archive"),
    ("extract_zip", "a member named ../escape.txt",
     unsafe_zip, V, r"Unsafe member '\.\./escape\.txt'"),
    # load_manifest
    ("load_manifest", "directory=None", lambda c: load_manifest(None),
     V, r"`directory` must be the folder of a preparation"),
    ("load_manifest", "verify='sha'",
     lambda c: load_manifest(c.preparation(), verify="sha"),
     V, r"`verify` must be one of \(None, 'size', 'checksum'\)"),
    ("load_manifest", "a folder without manifest.json",
     lambda c: load_manifest(str(c.tmp)),
     C, r"Missing .*manifest\.json: .* holds no complete preparation"),
    ("load_manifest", "manifest.json that is not JSON",
     lambda c: load_manifest(os.path.dirname(c.path("m/manifest.json",
                                                    b"{oops"))),
     C, r"Unreadable .*manifest\.json"),
    ("load_manifest", "manifest.json of another tool",
     lambda c: load_manifest(os.path.dirname(c.path("m/manifest.json",
                                                    b'{"a": 1}'))),
     C, r"manifest\.json is not a keras_lrm manifest"),
    *[("load_manifest", f"format_version={value!r}",
       (lambda v: lambda c: load_manifest(
           c.edited(setting("format_version", v))))(value),
       C, MANIFEST + r"`format_version` must be an integer >= 1")
      for value in (0, -7, True, "1", 1.0, None)],
    ("load_manifest", "format_version=2",
     lambda c: load_manifest(c.edited(setting("format_version", 2))),
     V, r"format_version=2, newer than the supported 1"),
    *[("load_manifest", f"vocab_size={value!r}",
       (lambda v: lambda c: load_manifest(
           c.edited(setting("vocab_size", v))))(value),
       C, MANIFEST + r"`vocab_size` must be an integer >= 1")
      for value in (-1, 0, "256", True, 2.5)],
    ("load_manifest", "dtype='float32'",
     lambda c: load_manifest(c.edited(setting("dtype", "float32"))),
     C, MANIFEST + r"`dtype` must be 'uint8' for vocab_size=256"),
    ("load_manifest", "dtype='uint16' with vocab_size=256",
     lambda c: load_manifest(c.edited(setting("dtype", "uint16"))),
     C, MANIFEST + r"`dtype` must be 'uint8' for vocab_size=256"),
    ("load_manifest", "chunk_size=0",
     lambda c: load_manifest(c.edited(setting("chunk_size", 0))),
     C, MANIFEST + r"`chunk_size` must be an integer >= 1"),
    ("load_manifest", "chunk_size=50 (records hold 100 tokens)",
     lambda c: load_manifest(c.edited(setting("chunk_size", 50))),
     C, MANIFEST + r"`splits\.train\.files\[0\]\.num_tokens` must be"),
    ("load_manifest", "tokenizer='bytes' (not a config)",
     lambda c: load_manifest(c.edited(setting("tokenizer", "bytes"))),
     C, MANIFEST + r"`tokenizer` must be a tokenizer config"),
    ("load_manifest", "tokenizer.vocab_size=300 (manifest: 256)",
     lambda c: load_manifest(c.edited(setting(
         "tokenizer", {"name": "bytes", "vocab_size": 300}))),
     C, MANIFEST + r"`tokenizer\.vocab_size` must be the manifest's"),
    ("load_manifest", "splits={}",
     lambda c: load_manifest(c.edited(setting("splits", {}))),
     C, MANIFEST + r"`splits` must be a non-empty"),
    ("load_manifest", "a split named 'dev'",
     lambda c: load_manifest(c.edited(lambda d: d["splits"].update(
         dev=d["splits"].pop("valid")))),
     C, MANIFEST + r"`splits` must be keyed by splits among"),
    ("load_manifest", "splits.train.num_tokens off by one",
     lambda c: load_manifest(c.edited(lambda d: d["splits"]["train"].update(
         num_tokens=d["splits"]["train"]["num_tokens"] + 1))),
     C, MANIFEST + r"`splits\.train\.num_tokens` must be the sum"),
    *[("load_manifest", f"a shard named {value!r}",
       (lambda v: lambda c: load_manifest(
           c.edited(first_entry("name", v))))(value),
       C, MANIFEST + r"`splits\.train\.files\[0\]\.name` must be the plain "
          r"shard file name 'train-00000-of-0000\d\.tfrecord' \(a path "
          r"outside the manifest's folder is never read\)")
      for value in ("../../x", "/etc/passwd",
                    "sub/train-00000-of-00003.tfrecord",
                    "..\\train-00000-of-00003.tfrecord")],
    *[("load_manifest", f"a shard named {value!r}",
       (lambda v: lambda c: load_manifest(
           c.edited(first_entry("name", v))))(value),
       C, MANIFEST + r"`splits\.train\.files\[0\]\.name` must be the plain "
          r"shard file name 'train-00000-of-0000\d\.tfrecord'\. ")
      for value in ("train-00001-of-00009.tfrecord", "notes.txt", 7)],
    ("load_manifest", "a shard entry with num_records=0",
     lambda c: load_manifest(c.edited(first_entry("num_records", 0))),
     C, MANIFEST + r"`splits\.train\.files\[0\]\.num_records` must be an "
                   r"integer >= 1"),
    ("load_manifest", "a shard entry with size_bytes='12'",
     lambda c: load_manifest(c.edited(first_entry("size_bytes", "12"))),
     C, MANIFEST + r"`splits\.train\.files\[0\]\.size_bytes` must be an "
                   r"integer >= 1"),
    ("load_manifest", "a shard entry with sha256='x'",
     lambda c: load_manifest(c.edited(first_entry("sha256", "x"))),
     C, MANIFEST + r"`splits\.train\.files\[0\]\.sha256` must be 64 "
                   r"lowercase hex digits"),
    ("load_manifest", "a shard entry without sha256",
     lambda c: load_manifest(c.edited(lambda d: d["splits"]["train"][
         "files"][0].pop("sha256"))),
     C, MANIFEST + r"`splits\.train\.files\[0\]` must be \{name, "),
    ("load_manifest", "a listed shard is missing", damage_shard("missing"),
     C, r"Missing shard .*train-00000-of-0000\d\.tfrecord, listed in"),
    ("load_manifest", "a listed shard is truncated",
     damage_shard("truncated"),
     C, r"Shard .*train-00000.* holds 10 bytes but the manifest records"),
    ("load_manifest(verify='checksum')", "a shard changed in place",
     damage_shard("flipped"),
     C, r"Shard .*train-00000.* has sha256 .* \(corrupted in place"),
    ("read_tokens", "a folder without manifest.json",
     lambda c: read_tokens(str(c.tmp), "train"),
     C, r"Missing .*manifest\.json"),
    ("Manifest.files", "split='dev'",
     lambda c: load_manifest(c.preparation()).files("dev"),
     V, r"`split` must be one of the prepared splits"),
    ("decode_record", "dtype='float32'",
     lambda c: decode_record(tf.constant(b""), "float32"),
     V, r"`dtype` must be one of \('uint8', 'uint16', 'int32'\)"),
    # tokenizers
    ("get_tokenizer", "name='bpe'", lambda c: get_tokenizer("bpe"),
     V, r"`name` must be one of \('bytes', 'words', 'sentencepiece'\)"),
    ("get_tokenizer", "'words' without corpus",
     lambda c: get_tokenizer("words"),
     V, r"The word tokenizer builds its vocabulary .* pass `corpus`"),
    ("get_tokenizer", "'bytes' with an option x=1",
     lambda c: get_tokenizer("bytes", x=1),
     V, r"ByteTokenizer takes the options \[\], not \['x'\]"),
    ("get_tokenizer", "'sentencepiece' without model_path",
     lambda c: get_tokenizer("sentencepiece"),
     V, r"SentencePieceTokenizer needs the option `model_path`"),
    ("SentencePieceTokenizer", "a missing model file",
     lambda c: SentencePieceTokenizer(str(c.tmp / "spm.model")),
     F, r"`model_path` must be an existing SentencePiece \.model file"),
    ("SentencePieceTokenizer", "a file that is not a model",
     lambda c: SentencePieceTokenizer(c.path("spm.model", b"garbage")),
     V, r"`model_path` is not a SentencePiece model \((?!\{\{)"),
    ("WordTokenizer", "vocabulary=5", lambda c: WordTokenizer(5),
     V, r"`vocabulary` must be a list of tokens or a vocab\.txt path"),
    ("WordTokenizer", "a missing vocab.txt",
     lambda c: WordTokenizer(str(c.tmp / "vocab.txt")),
     F, r"`vocabulary` must be a list of tokens or an existing vocab\.txt"),
    ("WordTokenizer", "a vocabulary without <unk>",
     lambda c: WordTokenizer(["<eos>", "a"]),
     V, r"`vocabulary` must hold `unk_token`"),
    ("WordTokenizer", "a token listed twice",
     lambda c: WordTokenizer(["<unk>", "<eos>", "a", "a"]),
     V, r"`vocabulary` holds the same token twice"),
    ("WordTokenizer.build", "max_size=1",
     lambda c: WordTokenizer.build([b"a\n"], max_size=1, progress=False),
     V, r"`max_size` must leave room for `unk_token` and `eos_token`"),
    ("tokenize", "texts=None", lambda c: ByteTokenizer().tokenize(None),
     V, r"`texts` must be a string or a list or 1-D tensor of strings"),
    ("tokenize", "texts=[1, 2]", lambda c: ByteTokenizer().tokenize([1, 2]),
     V, r"`texts` must be strings \(bytes or str\)"),
    ("tokenize", "texts=[['a']] (2-D)",
     lambda c: ByteTokenizer().tokenize([["a"]]),
     V, r"`texts` must be a list or 1-D tensor of strings"),
    ("detokenize", "ids=[[1.5]]",
     lambda c: ByteTokenizer().detokenize([[1.5]]),
     V, r"`ids` must be integer token ids"),
    ("detokenize", "ids=[1.5]", lambda c: ByteTokenizer().detokenize([1.5]),
     V, r"`ids` must be integers"),
    ("detokenize", "ids=[300] (vocab 256)",
     lambda c: ByteTokenizer().detokenize([300]),
     V, r"`ids` must be token ids in \[0, 256\)\. Received: an id 300"),
    ("detokenize", "ids=[-1]",
     lambda c: WordTokenizer(["<unk>", "<eos>"]).detokenize([-1]),
     V, r"`ids` must be token ids in \[0, 2\)"),
    ("detokenize", "ids of shape (1, 1, 1)",
     lambda c: ByteTokenizer().detokenize([[[1]]]),
     V, r"`ids` must be one sequence or a batch of sequences"),
    ("load_tokenizer", "directory=None", lambda c: load_tokenizer(None),
     V, r"`directory` must be the folder holding tokenizer\.json"),
    ("load_tokenizer", "a folder without tokenizer.json",
     lambda c: load_tokenizer(str(c.tmp)),
     F, r"No tokenizer\.json in `directory`"),
    ("load_tokenizer", "tokenizer.json that is not JSON",
     lambda c: load_tokenizer(os.path.dirname(c.path("t/tokenizer.json",
                                                     b"{oops"))),
     V, r"tokenizer\.json is not readable JSON"),
    ("load_tokenizer", "an unknown tokenizer name",
     lambda c: load_tokenizer(os.path.dirname(c.path(
         "t/tokenizer.json", b'{"name": "bpe"}'))),
     V, r"tokenizer\.json names an unknown tokenizer"),
    # streams
    ("StreamSource", "files='a.tfrecord' (a string)",
     lambda c: c.source(files="a.tfrecord"),
     V, r"`files` must be a list or tuple of shard paths"),
    ("StreamSource", "num_tokens=-1", lambda c: c.source(num_tokens=-1),
     V, r"`num_tokens` must be an integer >= 0"),
    ("StreamSource", "chunk_size=0", lambda c: c.source(chunk_size=0),
     V, r"`chunk_size` " + NOT_INT),
    ("StreamSource", "dtype='float32'",
     lambda c: StreamSource(("a",), 4, 4, "float32"),
     V, r"`dtype` must be one of \('uint8', 'uint16', 'int32'\)"),
    ("StreamSource", "no files but num_tokens=10",
     lambda c: c.source(files=()),
     V, r"`files` is empty but `num_tokens` is 10"),
    ("train_layout", "num_tokens=-5", lambda c: train_layout(-5, 1, 1),
     V, r"`num_tokens` must be an integer >= 0"),
    ("train_layout", "batch_size=0", lambda c: train_layout(100, 0, 4),
     V, r"`batch_size` " + NOT_INT),
    ("train_layout", "segment_length=2.0",
     lambda c: train_layout(100, 1, 2.0),
     V, r"`segment_length` " + NOT_INT),
    ("train_layout", "a split too short (0 tokens)",
     lambda c: train_layout(0, 2, 4),
     V, r"The split \(0 tokens\) is too short for `batch_size` x "),
    ("eval_layout", "num_tokens=1", lambda c: eval_layout(1, 1, 1),
     V, r"Evaluation needs at least 2 tokens"),
    ("stream_dataset", "source=a list of paths",
     lambda c: stream_dataset(["a"], train_layout(100, 1, 4)),
     V, r"`source` must be a `StreamSource`"),
    ("stream_dataset", "layout=(1, 4)",
     lambda c: stream_dataset(c.source(), (1, 4)),
     V, r"`layout` must be a `StreamLayout`"),
    ("stream_dataset", "start_window past the pass",
     lambda c: stream_dataset(c.source(), train_layout(10, 1, 4),
                              start_window=5),
     V, r"`start_window` must be < 2 windows per pass"),
    ("stream_dataset", "rows=[2] with batch_size 1",
     lambda c: stream_dataset(c.source(), train_layout(10, 1, 4), rows=[2]),
     V, r"`rows` must be batch rows in \[0, 1\)"),
    ("distribute_streams", "batch_size 3 over 2 replicas",
     lambda c: distribute_streams(types.SimpleNamespace(
         num_replicas_in_sync=2), c.source(num_tokens=40),
         train_layout(40, 3, 4)),
     V, r"`batch_size` must be divisible by the 2 replicas"),
    # synthetic tasks
    ("get_task", "task='sort'", lambda c: get_task("sort"),
     V, r"`task` must be one of \('copy', 'reverse', 'retrieval'\), a "
        r"preset name \('copy24'"),
    ("get_task", "task='copy' without length",
     lambda c: get_task("copy", num_segments=2, segment_length=8),
     V, r"`length` is required for task 'copy' \(a kind, not a preset\)"),
    ("get_task", "num_segments=0",
     lambda c: get_task("copy24", num_segments=0),
     V, r"`num_segments` " + NOT_INT),
    ("get_task", "segment_length=1.5",
     lambda c: get_task("copy24", segment_length=1.5),
     V, r"`segment_length` " + NOT_INT),
    ("get_task", "length=0", lambda c: get_task("copy24", length=0),
     V, r"`length` " + NOT_INT),
    ("get_task", "copy24 in 2 segments of 12 (does not fit)",
     lambda c: get_task("copy24", num_segments=2),
     V, r"`length` does not fit: task 'copy' of length 24 \(repeats 2\) "
        r"needs windows of 73 tokens, but num_segments \* segment_length "
        r"\+ 1 = 25"),
    ("get_task", "retrieval of 27 pairs (26 keys)",
     lambda c: get_task("retrieval", length=27, num_segments=8,
                        segment_length=8),
     V, r"`length` \(key-value pairs\) must be <= 26"),
    ("get_task", "repeats=2 for retrieval",
     lambda c: get_task("retrieval8", repeats=2),
     V, r"`repeats` must be 1 for task 'retrieval'"),
    ("get_task", "length=12 with fill=True",
     lambda c: get_task("copy24", length=12, fill=True),
     V, r"`length` must be None with fill=True"),
    ("longest_length", "1 segment of 2 tokens for retrieval",
     lambda c: longest_length("retrieval", 1, 2),
     V, r"`num_segments` \* `segment_length` = 2 tokens hold no task "
        r"'retrieval'"),
    ("SyntheticTask", "kind='sort'",
     lambda c: SyntheticTask("sort", 4, 2, 8),
     V, r"`kind` must be one of \('copy', 'reverse', 'retrieval'\)"),
    ("generate", "num_examples=0", lambda c: generate("copy24", 0, seed=0),
     V, r"`num_examples` " + NOT_INT),
    ("generate", "seed=-1", lambda c: generate("copy24", 2, seed=-1),
     V, r"`seed` must be an integer >= 0"),
    ("dataset (synthetic)", "batch_size=0",
     lambda c: dataset("copy24", 8, seed=0, batch_size=0),
     V, r"`batch_size` " + NOT_INT),
    ("dataset (synthetic)", "num_examples=10, batch_size=32",
     lambda c: dataset("copy24", 10, seed=0, batch_size=32),
     V, r"`num_examples` must be >= `batch_size` \(32\)"),
    ("split_windows", "windows of shape (73,)",
     lambda c: split_windows(generate("copy24", 1, 0).windows[0]),
     V, r"`windows` must be an int tensor of shape \(batch, T \+ 1\)"),
    ("split_windows", "float windows",
     lambda c: split_windows([[1.0, 2.0]]),
     V, r"`windows` must be an int tensor of shape \(batch, T \+ 1\)"),
    ("answer_accuracy", "logits of shape (2, 73, 39) for windows (2, 73)",
     lambda c: answer_accuracy(np.zeros((2, 73, 39)),
                               generate("copy24", 2, 0).windows),
     V, r"`logits` must have shape \(2, 72, 'vocab'\)"),
    ("answer_accuracy", "float windows",
     lambda c: answer_accuracy(np.zeros((1, 1, 39)), [[1.0, 2.0]]),
     V, r"`windows` must be int windows of shape \(batch, T \+ 1\)"),
    ("render", "token_ids=[-1]", lambda c: render([-1]),
     V, r"`token_ids` must lie in \[0, 39\)"),
    # ListOps
    ("listops.generate", "num_examples=-1",
     lambda c: listops.generate(-1, seed=0),
     V, r"`num_examples` must be an integer >= 0"),
    ("listops.generate", "seed=1.5",
     lambda c: listops.generate(1, seed=1.5),
     V, r"`seed` must be an int or a str"),
    ("listops.generate", "min_length=10, max_length=5",
     lambda c: listops.generate(1, 0, min_length=10, max_length=5),
     V, r"`min_length` must be <= `max_length`"),
    ("listops.generate", "max_depth=0",
     lambda c: listops.generate(1, 0, max_depth=0),
     V, r"`max_depth` " + NOT_INT),
    ("listops.generate", "max_args=1",
     lambda c: listops.generate(1, 0, max_args=1),
     V, r"`max_args` must be an integer >= 2"),
    ("listops.generate", "min_length=100 for max_depth=3, max_args=3",
     lambda c: listops.generate(1, 0, min_length=100, max_depth=3,
                                max_args=3),
     V, r"`min_length` must be <= 17, the longest tree"),
    ("listops.splits", "train_size=-1",
     lambda c: listops.splits(0, train_size=-1),
     V, r"`train_size` must be an integer >= 0"),
    ("listops.encode", "expressions='[MAX 1 2 ]' (one string)",
     lambda c: listops.encode("[MAX 1 2 ]"),
     V, r"`expressions` must be a list of strings"),
    ("listops.decode", "token_ids=[18]",
     lambda c: listops.decode([18]),
     V, r"`token_ids` must be integer ids in \[0, 18\)"),
    ("listops.dataset", "max_length=3 for a 4-token expression",
     lambda c: listops.dataset(["[MAX 1 2 ]"], [2], 1, max_length=3),
     V, r"`max_length` must be >= the longest expression \(4 tokens\)"),
    ("listops.dataset", "labels=[10]",
     lambda c: listops.dataset(["[MAX 1 2 ]"], [10], 1, max_length=4),
     V, r"`labels` must be one int in \[0, 10\)"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("errors_data")
    manifest = prepare(StdlibCorpus(max_bytes=3_000), ByteTokenizer(),
                       output_dir=str(out), chunk_size=100,
                       shard_tokens=1000, progress=False)
    return manifest.directory


@pytest.mark.parametrize(
    "entry, bad_input, call, error, pattern", ROWS,
    ids=[f"{row[0]}: {row[1]}" for row in ROWS])
def test_bad_input_gets_a_clear_error(entry, bad_input, call, error, pattern,
                                      tmp_path, prepared):
    with pytest.raises(error, match=pattern) as caught:
        call(Context(tmp_path, prepared))
    # The API raises the documented type, never a bare TensorFlow error.
    assert not isinstance(caught.value, tf.errors.OpError)
    assert str(caught.value).strip()


def markdown(tmp_root):
    """The rows as a Markdown table, with each error's actual message."""
    import tempfile

    out = tempfile.mkdtemp(dir=tmp_root)
    manifest = prepare(StdlibCorpus(max_bytes=3_000), ByteTokenizer(),
                       output_dir=out, chunk_size=100, shard_tokens=1000,
                       progress=False)
    lines = ["| entry point | bad input | error (type and the start of its "
             "message) |", "| --- | --- | --- |"]
    for index, (entry, bad_input, call, _, _) in enumerate(ROWS):
        tmp = os.path.join(out, f"row{index}")
        os.makedirs(tmp)
        import pathlib
        try:
            call(Context(pathlib.Path(tmp), manifest.directory))
            message = "no error (a bug)"
        except Exception as error:  # noqa: BLE001 - the table shows it
            text = " ".join(str(error).split())
            text = text.replace(out, "...").replace("|", "\\|")
            if len(text) > 110:
                text = text[:107] + "..."
            message = f"`{type(error).__name__}`: {text}"
        bad = bad_input.replace("|", "\\|")
        lines.append(f"| `{entry}` | {bad} | {message} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys
    import tempfile

    sys.stdout.write(markdown(tempfile.gettempdir()))
