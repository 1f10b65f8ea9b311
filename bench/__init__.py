"""ONE's benchmarks: `make bench` (`python -m bench`) runs every `*_bench` module here.

Each benchmark module exposes `BENCHMARKS`, a mapping from a benchmark's name to a function
that takes `quick` (run at small scale, as a smoke test), prints its figures and returns
them as JSON-ready data. The figures also go to `bench/.results/<module>.json`. Benchmarks
measure; they assert nothing about speed.
"""
