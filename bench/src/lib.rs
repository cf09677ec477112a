//! Benchmarks for the AVM engines.
