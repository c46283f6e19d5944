"""Benchmarks (`make bench`): each figure is printed as a ratio against its reference measured in
the same process; results are also written to bench-results/bench.json."""
