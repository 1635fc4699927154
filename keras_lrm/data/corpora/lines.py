"""Reading a text file in blocks of whole lines, or line by line."""


def line_blocks(stream, length, block_size):
    """Yields `length` bytes of `stream` in blocks of whole lines.

    A block ends just after a newline and holds at most `block_size` bytes
    unless one line is longer (then the block runs to that line's end). The
    concatenation of the blocks is exactly the `length` bytes read, so a
    tokenizer that works line by line gives the same tokens for the blocks
    as for the whole text.

    Args:
        stream: a binary file object positioned where reading starts.
        length: number of bytes to read.
        block_size: target block size in bytes.
    """
    carry = b""
    remaining = length
    while remaining > 0:
        data = stream.read(min(block_size, remaining))
        if not data:
            raise ValueError(
                f"The file ended {remaining} bytes early while reading "
                f"{length} bytes. Received: stream={stream!r}"
            )
        remaining -= len(data)
        data = carry + data
        cut = data.rfind(b"\n") + 1
        if remaining == 0:
            cut = len(data)
        if cut == 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def lines(stream, length, block_size):
    """Yields `length` bytes of `stream` line by line, newlines kept."""
    for block in line_blocks(stream, length, block_size):
        pieces = block.split(b"\n")
        last = pieces.pop()
        for piece in pieces:
            yield piece + b"\n"
        if last:
            yield last
