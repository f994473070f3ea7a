"""Side-by-side benchmarks: every number is a ratio measured in the same run."""
