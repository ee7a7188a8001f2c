"""The validator daemon: loops that read the chain, run the contest, sample and set weights."""
