"""Per-credential rate limiting (fixed windows), shared through the database across processes."""
