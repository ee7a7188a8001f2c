"""Adapters of the `ModelHost` port: engines run here or over SSH, and Chutes deployments."""
