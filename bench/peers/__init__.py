"""The peer workers: other libraries' Transformer-XL on the same work.

Copied from the company peer-benchmark harness (see bench/README.md for
what was adapted); each runs as `python -m bench.peers.<name>` from the
repository root and speaks the protocol of `bench.peers.harness`.
"""
