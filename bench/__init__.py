"""Benchmarks of bnlab against PyTorch on CPU.

``python -m bench`` (or ``make bench``) runs every module ``bench/bench_*.py``
and writes ``bench/results.md``. Each module exposes ``run() -> str``, one
markdown section; ``bench.timing`` holds the shared way of measuring.
"""
