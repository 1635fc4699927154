"""Downloads: atomic writes, skipping what is there, clear offline errors."""

import os
import socket
import time
import zipfile

import pytest

from keras_lrm.data import Enwik8Corpus
from keras_lrm.data import WikiText103Corpus
from keras_lrm.data.files.downloads import download_file
from tests.data import samples


def closed_port_url(name):
    """An http URL on localhost where nothing listens: refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_enwik8_download_writes_atomically_and_skips_existing(tmp_path):
    _, archive, data = samples.write_enwik8(tmp_path, num_bytes=4_000)
    target = tmp_path / "data"
    path = Enwik8Corpus.download(str(target), url=archive.as_uri())
    assert path == str(target / "enwik8.zip")
    assert os.listdir(target) == ["enwik8.zip"]
    corpus = Enwik8Corpus(path, allow_short=True)
    assert b"".join(b"".join(corpus.texts(s)) for s in
                    ("train", "valid", "test")) == data
    # Already there: no network needed.
    assert Enwik8Corpus.download(str(target), url="http://invalid./x") == path


def test_offline_download_fails_fast_and_says_what_to_do(tmp_path):
    start = time.monotonic()
    with pytest.raises(ConnectionError,
                       match=r"no internet access.*copy it to .*enwik8\.zip"):
        Enwik8Corpus.download(str(tmp_path),
                              url=closed_port_url("enwik8.zip"))
    assert time.monotonic() - start < 10
    assert os.listdir(tmp_path) == []


def test_wikitext_download_extracts_the_folder(tmp_path):
    source = samples.write_wikitext(tmp_path / "src")
    archive = tmp_path / "wikitext-103-v1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in sorted(os.listdir(source)):
            zf.write(source / name, f"wikitext-103/{name}")
    target = tmp_path / "data"
    folder = WikiText103Corpus.download(str(target), url=archive.as_uri())
    assert folder == str(target / "wikitext-103")
    corpus = WikiText103Corpus(folder)
    assert b"".join(corpus.texts("test")) == samples.WIKI_TEST.encode()
    leftovers = [n for n in os.listdir(folder) if ".tmp-" in n]
    assert leftovers == []


def test_download_file_reports_a_missing_local_url(tmp_path):
    missing = (tmp_path / "absent.bin").as_uri()
    with pytest.raises(ConnectionError, match="absent.bin"):
        download_file(missing, str(tmp_path / "out" / "absent.bin"))
    assert os.listdir(tmp_path / "out") == []
