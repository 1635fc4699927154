"""Corpora: split rules, streaming documents, fingerprints, clear errors."""

import os
import zipfile

import pytest

from keras_lrm.data import SPLITS
from keras_lrm.data import Enwik8Corpus
from keras_lrm.data import StdlibCorpus
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import TFDSCorpus
from keras_lrm.data import WikiText103Corpus
from keras_lrm.data import enwik8_bounds
from keras_lrm.data import get_corpus
from keras_lrm.data.corpora.splits import split_bounds
from keras_lrm.data.corpora.splits import split_of_path
from tests.data import samples


def test_enwik8_standard_split_of_ten_to_the_eight_bytes():
    bounds = enwik8_bounds(10**8)
    assert bounds == {
        "train": (0, 90_000_000),
        "valid": (90_000_000, 95_000_000),
        "test": (95_000_000, 100_000_000),
    }
    # prep_enwik8.py: data[:-2n], data[-2n:-n], data[-n:] with n = 5e6.
    n = 5_000_000
    data = range(10**8)
    assert bounds["train"] == (0, len(data[:-2 * n]))
    assert bounds["test"][0] == data[-n]
    # Bytes past the first 10^8 are ignored.
    assert enwik8_bounds(10**8 + 12345) == bounds


def test_enwik8_short_length_is_rejected_unless_allowed():
    with pytest.raises(ValueError, match=r"'/x/enwik8' holds 999 bytes"):
        enwik8_bounds(999, path="/x/enwik8")
    bounds = enwik8_bounds(1000, allow_short=True)
    assert bounds == {"train": (0, 900), "valid": (900, 950),
                      "test": (950, 1000)}
    assert split_bounds(1003)["test"] == (1003 - 50, 1003)


@pytest.mark.parametrize("member", ["enwik8", "enwik8.zip"])
def test_enwik8_texts_are_the_split_bytes_in_line_blocks(tmp_path, member):
    samples.write_enwik8(tmp_path, num_bytes=300_000)
    data = (tmp_path / "enwik8").read_bytes()
    corpus = Enwik8Corpus(str(tmp_path / member), allow_short=True)
    assert corpus.is_zip == member.endswith(".zip")
    for split, (start, end) in enwik8_bounds(len(data), True).items():
        blocks = list(corpus.texts(split))
        assert b"".join(blocks) == data[start:end]
        assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert corpus.sources()[0]["name"] == member
    assert corpus.sources()[0]["size"] == os.path.getsize(tmp_path / member)
    assert corpus.get_config()["allow_short"] is True


def test_enwik8_file_errors_name_the_path(tmp_path):
    raw, _, _ = samples.write_enwik8(tmp_path, num_bytes=5_000)
    with pytest.raises(ValueError, match=r"holds 5000 bytes.*allow_short"):
        Enwik8Corpus(str(raw))
    missing = str(tmp_path / "nope.zip")
    with pytest.raises(FileNotFoundError, match=r"download.*nope\.zip"):
        Enwik8Corpus(missing)
    bad_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(bad_zip, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match=r"no member 'enwik8'.*other\.zip"):
        Enwik8Corpus(str(bad_zip), allow_short=True)


def test_wikitext_documents_are_lines(tmp_path):
    folder = samples.write_wikitext(tmp_path)
    corpus = WikiText103Corpus(str(folder))
    lines = list(corpus.texts("train"))
    assert lines == samples.WIKI_TRAIN.encode().splitlines(keepends=True)
    assert lines[1] == b" = Valkyria Chronicles III = \n"
    # The parent folder of wikitext-103/ works too.
    assert WikiText103Corpus(str(tmp_path)).directory == str(folder)
    assert [s["name"] for s in corpus.sources()] == [
        "wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"]


def test_wikitext_missing_file_names_it(tmp_path):
    folder = samples.write_wikitext(tmp_path)
    os.remove(folder / "wiki.valid.tokens")
    with pytest.raises(FileNotFoundError, match=r"wiki\.valid\.tokens"):
        WikiText103Corpus(str(folder))


def test_text_files_split_by_path_hash(tmp_path):
    folder, paths = samples.write_text_files(tmp_path)
    corpus = TextFilesCorpus(str(folder))
    seen = []
    for split in SPLITS:
        for path in corpus.files(split):
            relpath = os.path.relpath(path, folder).replace(os.sep, "/")
            assert split_of_path(relpath) == split
            seen.append(path)
    assert sorted(seen) == sorted(str(p) for p in paths)
    train = b"".join(corpus.texts("train"))
    assert train == b"".join(open(p, "rb").read()
                             for p in corpus.files("train"))
    names = [s["name"] for s in corpus.sources()]
    assert "sub/file00.txt" in names and "file01.txt" in names
    # A glob: the same files, split the same way.
    globbed = TextFilesCorpus(str(folder / "*.txt"))
    assert all("sub" not in p for p in globbed.paths)
    assert set(globbed.files("train")) <= set(corpus.files("train"))


def test_single_text_file_is_cut_90_5_5_at_newlines(tmp_path):
    path = tmp_path / "one.txt"
    data = b"".join(b"line %d of the single file\n" % i for i in range(2000))
    path.write_bytes(data)
    corpus = TextFilesCorpus(str(path))
    parts = [b"".join(corpus.texts(split)) for split in SPLITS]
    assert b"".join(parts) == data
    for part in parts:
        assert part.endswith(b"\n")
    assert abs(len(parts[0]) / len(data) - 0.9) < 0.01
    assert abs(len(parts[2]) / len(data) - 0.05) < 0.01


def test_text_max_bytes_limits_each_split_as_stdlib_does(tmp_path):
    """One large file: each split's part is cut at a newline within
    `max_bytes`; several files: whole files that fit, in order."""
    path = tmp_path / "one.txt"
    data = b"".join(b"line %d of the single file\n" % i for i in range(2000))
    path.write_bytes(data)
    whole = TextFilesCorpus(str(path))
    corpus = TextFilesCorpus(str(path), max_bytes=1000)
    for split in SPLITS:
        part = b"".join(corpus.texts(split))
        full = b"".join(whole.texts(split))
        assert 1000 - 30 < len(part) <= 1000 and part.endswith(b"\n")
        assert full.startswith(part)
        assert corpus.split_bytes(split) == len(part)
    assert corpus.get_config()["max_bytes"] == 1000
    assert "max_bytes" not in whole.get_config()
    folder, _ = samples.write_text_files(tmp_path / "many", count=30)
    many = TextFilesCorpus(str(folder))
    size = os.path.getsize(many.files("train")[0])
    limited = TextFilesCorpus(str(folder), max_bytes=3 * size)
    train = limited.files("train")
    assert len(train) == 3 and train == many.files("train")[:3]
    assert b"".join(limited.texts("train")) == b"".join(
        open(p, "rb").read() for p in train)
    with pytest.raises(ValueError, match="`max_bytes` must be an integer"):
        TextFilesCorpus(str(path), max_bytes=0)
    assert get_corpus("text", str(path), max_bytes=500).max_bytes == 500


def test_text_files_no_match_names_the_pattern(tmp_path):
    pattern = str(tmp_path / "missing" / "*.txt")
    with pytest.raises(FileNotFoundError, match="missing/\\*\\.txt"):
        TextFilesCorpus(pattern)


def test_stdlib_leaves_out_site_packages(tmp_path):
    root = tmp_path / "lib"
    for relpath in ["os.py", "json/__init__.py", "json/decoder.py",
                    "site-packages/numpy/core.py",
                    "dist-packages/six.py", "__pycache__/x.py", "data.txt"]:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {relpath}\n")
    corpus = StdlibCorpus(root=str(root))
    files = sorted(p for split in SPLITS for p in corpus.files(split))
    assert files == ["json/__init__.py", "json/decoder.py", "os.py"]
    for split in SPLITS:
        assert all(split_of_path(p) == split for p in corpus.files(split))


def test_stdlib_max_bytes_keeps_whole_files_in_order():
    corpus = StdlibCorpus(max_bytes=60_000)
    for split in SPLITS:
        files = corpus.files(split)
        texts = list(corpus.texts(split))
        assert files == sorted(files) and files
        assert 0 < sum(len(t) for t in texts) <= 60_000
        assert not any("site-packages" in f for f in files)
    again = StdlibCorpus(max_bytes=60_000)
    assert again.files("valid") == corpus.files("valid")
    assert len(corpus.sources()) == sum(len(corpus.files(s)) for s in SPLITS)


def test_get_corpus_by_name(tmp_path):
    raw, _, _ = samples.write_enwik8(tmp_path, num_bytes=2_000)
    folder = samples.write_wikitext(tmp_path)
    assert isinstance(get_corpus("stdlib", max_bytes=10), StdlibCorpus)
    assert isinstance(get_corpus("enwik8", str(raw), allow_short=True),
                      Enwik8Corpus)
    assert isinstance(get_corpus("wikitext103", str(folder)),
                      WikiText103Corpus)
    assert isinstance(get_corpus("text", str(folder)), TextFilesCorpus)
    pg19 = get_corpus("pg19", str(tmp_path))
    assert isinstance(pg19, TFDSCorpus) and pg19.text_key == "book_text"
    with pytest.raises(ValueError, match=r"'stdlib'.*name='wiki'"):
        get_corpus("wiki")
    with pytest.raises(ValueError, match="path=None"):
        get_corpus("enwik8")
    with pytest.raises(ValueError, match="Received: split='dev'"):
        next(get_corpus("stdlib", max_bytes=10).texts("dev"))


def test_split_bytes_equal_what_texts_yield(tmp_path):
    from keras_lrm.data import SPLITS
    from keras_lrm.data import Enwik8Corpus
    from keras_lrm.data import StdlibCorpus
    from keras_lrm.data import TextFilesCorpus
    from keras_lrm.data import WikiText103Corpus
    from tests.data.samples import write_enwik8
    from tests.data.samples import write_text_files
    from tests.data.samples import write_wikitext
    write_enwik8(tmp_path, num_bytes=100_000)
    corpora = [
        StdlibCorpus(max_bytes=200_000),
        Enwik8Corpus(str(tmp_path / "enwik8.zip"), allow_short=True),
        WikiText103Corpus(str(write_wikitext(tmp_path))),
        TextFilesCorpus(str(write_text_files(tmp_path)[0])),
        TextFilesCorpus(str(tmp_path / "enwik8")),
    ]
    for corpus in corpora:
        for split in SPLITS:
            assert corpus.split_bytes(split) == sum(
                len(text) for text in corpus.texts(split)), (corpus, split)
