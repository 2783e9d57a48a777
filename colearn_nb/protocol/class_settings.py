"""The settings of a class of laptops, checked in one place: the ``host`` command and the projector's form.

Both check the same way before anything starts (the form lives in ``viz``, the command in ``flower``:
this layer is the one both import). Each setting is named as its caller spells it (``--rounds`` on the
command line, ``n_rounds`` in Python), in the kit's one error form, ``name: got VALUE; expected WHAT``.

No notebook teaches it: notebook 13's form and the README's ``host`` command use it.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from .checks import check_int, check_number

CLASS_SETTINGS = ("address", "port", "n_learners", "n_rounds", "vote_threshold", "round_deadline")
CLASS_LIMITS: dict[str, tuple[float, float]] = {"port": (1, 65535), "n_learners": (2, 500),
                                                "n_rounds": (1, 1000), "vote_threshold": (0, 1),
                                                "round_deadline": (0, 3600)}
# seconds a connected laptop is waited for in one step of a round (counted from when the server sent; Flower
# does not tell it when the laptop took the message): on this 2-core machine at load average 8.6 (3 laptops,
# 2 busy loops, other jobs) a proposal's step waited up to 19.7 s, a vote's 6.3 s (benchmarks/
# classroom_rounds.py --hog 2). A laptop that left is missing sooner: once Flower misses two heartbeats.
DEFAULT_DEADLINE_S = 120.0
HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def check_address(name: str, address: Any) -> str:
    """``address`` stripped when it is an IPv4 address or a host name laptops can dial; else ``ValueError``.

    >>> check_address("address", " 192.168.1.20 ")
    '192.168.1.20'
    >>> check_address("--address", "192.168.1.20:9093")
    Traceback (most recent call last):
    ValueError: --address: got '192.168.1.20:9093'; expected an IPv4 address or a host name laptops in \
the room dial, e.g. 192.168.1.20 (the port is a setting of its own)
    """
    text = str(address).strip() if isinstance(address, str) else address
    if text == "":
        raise ValueError(f"{name}: empty; give the address laptops in the room dial, e.g. 192.168.1.20")
    try:
        is_ip = ipaddress.ip_address(text).version == 4
    except (TypeError, ValueError):
        is_ip = False
    if is_ip or (isinstance(text, str) and HOST_NAME.fullmatch(text) and not text.replace(".", "").isdigit()):
        return text
    raise ValueError(f"{name}: got {address!r}; expected an IPv4 address or a host name laptops in the room "
                     "dial, e.g. 192.168.1.20 (the port is a setting of its own)")


def check_class_settings(settings: Mapping[str, Any],
                         names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``settings`` (``CLASS_SETTINGS``) checked: address, port, learners, rounds, threshold, deadline.

    ``names``: how the caller spells each setting in its messages (default: as in ``CLASS_SETTINGS``).

    >>> check_class_settings({"address": "10.0.0.2", "port": 9093, "n_learners": 3, "n_rounds": 10,
    ...                       "vote_threshold": 0.5, "round_deadline": 30})["n_rounds"]
    10
    >>> check_class_settings({"address": "10.0.0.2", "port": 9093, "n_learners": 3, "n_rounds": -1,
    ...                       "vote_threshold": 0.5, "round_deadline": 30}, names={"n_rounds": "--rounds"})
    Traceback (most recent call last):
    ValueError: --rounds: got -1; expected an integer in [1, 1000]
    """
    called = {name: (names or {}).get(name, name) for name in CLASS_SETTINGS}
    checked: dict[str, Any] = {"address": check_address(called["address"], settings["address"])}
    for name, hint in (("port", ""), ("n_learners", ": a class needs at least 2 learners"), ("n_rounds", "")):
        low, high = CLASS_LIMITS[name]
        checked[name] = check_int(called[name], settings[name], int(low), int(high), hint=hint)
    checked["vote_threshold"] = check_number(called["vote_threshold"], settings["vote_threshold"],
                                             *CLASS_LIMITS["vote_threshold"], hint=", e.g. 0.5")
    checked["round_deadline"] = check_number(called["round_deadline"], settings["round_deadline"],
                                             *CLASS_LIMITS["round_deadline"], low_open=True,
                                             hint=" (seconds a learner has to answer in a round), e.g. 30")
    return checked
