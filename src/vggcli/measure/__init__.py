"""Measurement: the timing harness, the benchmark kinds, per-layer profiles, correctness
checks (against the loops reference, PyTorch and central differences)."""
