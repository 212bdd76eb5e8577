"""Benchmarks that compare our stores with the clients they wrap."""
