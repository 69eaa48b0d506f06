"""Benchmarks, experiment scripts and the demo; a package so that scripts share
bench_common by name, not by sys.path edits."""
