"""Small stand-ins for the real corpora, written into a test's tmp_path."""

import struct
import zipfile

import numpy as np

WIKI_TRAIN = (
    " \n"
    " = Valkyria Chronicles III = \n"
    " \n"
    " Senjō no Valkyria 3 : <unk> Chronicles is a tactical role @-@ "
    "playing video game . \n"
    " The game began development in 2010 . \n"
    " \n"
    " = = Gameplay = = \n"
    " \n"
    " The game is a tactical game , and the game is played in 2010 . \n"
)
WIKI_VALID = (
    " \n"
    " = Homarus gammarus = \n"
    " \n"
    " Homarus gammarus is a large crustacean . The game \n"
)
WIKI_TEST = (
    " \n"
    " = Robert Boulter = \n"
    " \n"
    " Robert Boulter is an English film actor . \n"
)


def enwik8_like(num_bytes, seed=0):
    """XML-ish bytes with newlines and some non-ASCII, `num_bytes` long."""
    rng = np.random.default_rng(seed)
    words = [b"<page>", b"<title>", b"Anarchism", b"</title>", b"the", b"of",
             b"[[link]]", b"&amp;", b"caf\xc3\xa9", b"\xe2\x80\x94", b"1999"]
    parts, size = [], 0
    while size < num_bytes:
        line = b" ".join(words[i] for i in rng.integers(0, len(words), 12))
        parts.append(line + b"\n")
        size += len(line) + 1
    return b"".join(parts)[:num_bytes]


def write_enwik8(directory, num_bytes=300_000):
    """Writes `enwik8` and `enwik8.zip` holding the same bytes."""
    data = enwik8_like(num_bytes)
    raw = directory / "enwik8"
    raw.write_bytes(data)
    archive = directory / "enwik8.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("enwik8", data)
    return raw, archive, data


def write_wikitext(directory):
    """Writes a `wikitext-103` folder with the three token files."""
    folder = directory / "wikitext-103"
    folder.mkdir(parents=True)
    for split, text in (("train", WIKI_TRAIN), ("valid", WIKI_VALID),
                        ("test", WIKI_TEST)):
        (folder / f"wiki.{split}.tokens").write_text(text, encoding="utf-8")
    return folder


def write_text_files(directory, count=12, lines=40):
    """Writes `count` small text files under `directory/texts`."""
    folder = directory / "texts"
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i in range(count):
        parent = folder / "sub" if i % 3 == 0 else folder
        path = parent / f"file{i:02d}.txt"
        path.write_text("".join(f"file {i} line {j} words here\n"
                                for j in range(lines)))
        paths.append(path)
    return folder, paths


def _varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _field(number, wire_type, payload):
    return _varint(number << 3 | wire_type) + payload


def _message(number, payload):
    return _field(number, 2, _varint(len(payload)) + payload)


def sentencepiece_model(characters):
    """A serialized character-level SentencePiece ModelProto.

    Pieces `<unk>`, `<s>`, `</s>` then `characters`; the identity
    normalizer; no training needed (the sentencepiece package is not a
    dependency).
    """
    def piece(text, score, kind):
        return _message(1, _message(1, text.encode()) +
                        _field(2, 5, struct.pack("<f", score)) +
                        _field(3, 0, _varint(kind)))

    pieces = piece("<unk>", 0.0, 2) + piece("<s>", 0.0, 3) + \
        piece("</s>", 0.0, 3)
    for i, char in enumerate(characters):
        pieces += piece(char, -float(i + 1), 1)
    trainer = _message(2, _field(3, 0, _varint(4)))  # model_type: CHAR
    normalizer = _message(3, _message(1, b"identity") +
                          _field(3, 0, _varint(0)) +
                          _field(4, 0, _varint(0)))
    return pieces + trainer + normalizer
