"""One module per workload; each defines a `WORKLOAD` listed in `benchmarks.registry`."""
