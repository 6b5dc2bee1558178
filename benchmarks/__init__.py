"""Load and scaling benchmarks for callplane's hot paths (`make bench`; see RESULTS.md)."""
