"""Benchmarks, run with ``make bench`` (``python -m bench``); not part of the tests.

Each module here exposes ``main()``; results are ratios against a peer measured in the same run.
"""
