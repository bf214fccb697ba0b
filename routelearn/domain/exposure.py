"""Whether a listening surface is reachable beyond this machine, and the basic-auth credentials
that must guard it then (Flower: ``routelearn flower``)."""

from __future__ import annotations

import ipaddress

# Shorter passwords are refused: Flower compares the whole "user:password" string and has no
# lock-out, so a short one can be guessed by anyone who reaches the port.
MIN_PASSWORD = 8


def is_loopback(address: str) -> bool:
    """True for an address only this machine reaches: 127.0.0.0/8, ::1, ``localhost``. An empty
    address (every interface), 0.0.0.0 and any other name count as beyond loopback."""
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def basic_auth_users(value: str, variable: str = "FLOWER_BASIC_AUTH") -> list[str]:
    """The user names of a ``user:password[,user:password...]`` list (Flower's format).

    Raises ValueError naming the variable and the entry's position, never its password."""
    users = []
    for n, entry in enumerate(value.split(","), start=1):
        user, sep, password = entry.partition(":")
        if not sep or not user.strip():
            raise ValueError(f"{variable}: entry {n} is not user:password")
        if len(password) < MIN_PASSWORD:
            raise ValueError(
                f"{variable}: the password of {user!r} (entry {n}) is shorter than "
                f"{MIN_PASSWORD} characters"
            )
        users.append(user)
    return users
