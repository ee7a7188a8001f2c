"""Ports: the interfaces between throne and the world outside it, one small module each."""
