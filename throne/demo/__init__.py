"""The embedded demo: a local chain, local miners and the daemon, all in one process."""
