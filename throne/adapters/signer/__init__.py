"""The daemon's side of ``throne signer``: a client for the process that holds the hotkey."""
