"""Adapters of the `ModelHost` port (``throne.ports.model_host``): engines run here as child
processes or over SSH, miners' own Chutes deployments, and the command templates they share."""
