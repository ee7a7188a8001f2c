"""The portable, verifiable audit trail: export the log with a signed hash chain; verify it."""
