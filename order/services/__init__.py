"""Order services: every write to orders goes through here (HackSoft-style services)."""


class OrderRefused(Exception):
    """The request cannot be carried out; the message says why, in words for the user."""
