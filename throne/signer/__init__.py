"""``throne signer``: the process that holds the validator's hotkey, apart from the daemon.

The daemon talks to untrusted miners and runs their programs; the signer talks only to the
daemon, over a unix socket or loopback, and does only two things with the key: it signs the
audit export's checkpoints and end records, and it submits weight vectors on its own subnet.
Every request carries a shared bearer token; each is checked against the rules in
`throne.signer.rules` before the key is used.
"""
