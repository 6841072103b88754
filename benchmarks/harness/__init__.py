"""The benchmark harness: competitor venvs, the loopback sink, workloads, the report."""
