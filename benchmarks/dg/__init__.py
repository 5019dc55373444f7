"""Helpers of benchmarks/dg_benchmark.py: data and tasks, methods, the classifier recipe, the report."""
