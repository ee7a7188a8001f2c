"""Hosts for miners' models (the `ModelHost` port in `throne.ports.model_host`): engines run
as local child processes, and the command templates they share."""
