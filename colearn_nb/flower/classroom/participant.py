"""A participant's side: pin the class's CA, join with the code, run a SuperNode and its worker.

``Participant`` keeps its key pair in its directory, so running ``join`` again after a crash
or a closed lid rejoins as the same learner (the host recognises the key). The CA certificate is
fetched from the gateway and trusted only when its SHA-256 fingerprint starts with the join line's 60 bits
(or equals ``--ca-sha256``'s 64 hex digits);
everything after that (the join itself, the SuperNode's connection) is verified against it.
"""
from __future__ import annotations

import json
import logging
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..deploy.credentials import TLSFiles, make_node_keys
from ..deploy.loopback import CLIENT_APP, LoopbackFederation
from ..learner_events import EVENTS_VARIABLE
from .host import CODE_ALPHABET, DEFAULT_PORT, FINGERPRINT_LETTERS, fingerprint_matches

logger = logging.getLogger(__name__)


class JoinError(Exception):
    """Joining failed: the host said no, or could not be reached, or its certificate did not match."""


def parse_address(address: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"HOST"`` (port 9093) as (host, port), with a clear error otherwise.

    >>> parse_address("198.18.0.1:9094"), parse_address("198.18.0.1")
    (('198.18.0.1', 9094), ('198.18.0.1', 9093))
    """
    host, colon, port = address.rpartition(":")
    if not colon:
        host, port = address, str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address: got {address!r}; expected HOST or HOST:PORT as in the join line, "
                         "e.g. 192.168.1.20")
    return host, int(port)


def check_fingerprint(ca_sha256: str) -> str:
    """``ca_sha256`` if it is a CA fingerprint a participant can pin: 64 hex digits, or the join line's 12
    letters; ``ValueError`` otherwise."""
    digits = ca_sha256.replace(":", "")
    if len(digits) == 64 and all(c in "0123456789abcdef" for c in digits.lower()):
        return ca_sha256
    if len(digits) == FINGERPRINT_LETTERS and set(digits.upper()) <= set(CODE_ALPHABET):
        return ca_sha256
    raise ValueError(f"ca_sha256: got {ca_sha256!r}; expected the 64 hex digits of --ca-sha256, or the last "
                     f"{FINGERPRINT_LETTERS} letters of the join line's token")


def fetch_pinned_ca(host: str, port: int, ca_sha256: str, timeout: float = 10.0) -> bytes:
    """The gateway's CA certificate if its fingerprint matches ``ca_sha256``, else ``JoinError``."""
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # checked by fingerprint below
    try:
        with urllib.request.urlopen(f"https://{host}:{port}/classroom/ca.crt", context=unverified,
                                    timeout=timeout) as answer:
            pem = answer.read()
    except (OSError, urllib.error.URLError) as exc:
        raise JoinError(f"could not reach the class at {host}:{port} ({exc}); check the address and that "
                        "this laptop is on the room's network") from exc
    if not fingerprint_matches(pem, ca_sha256):
        raise JoinError(f"the certificate at {host}:{port} is not the class's (its fingerprint differs from "
                        "the join line's): check the join line, or someone is in between; nothing was sent")
    return pem


def request_join(host: str, port: int, ca_pem: bytes, code: str, public_key: str, name: str,
                 timeout: float = 300.0) -> dict[str, Any]:
    """POST the join code and public key over TLS verified by the pinned CA; the host's answer.

    The host registers laptops one at a time (a ``flwr`` command each): with 16 laptops joining a second
    apart on a busy 2-core teacher, the last waited over 60 s for its answer, so the wait is ``timeout``.
    """
    context = ssl.create_default_context(cadata=ca_pem.decode())
    body = json.dumps({"code": code, "public_key": public_key, "name": name}).encode()
    request = urllib.request.Request(f"https://{host}:{port}/classroom/join", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as refusal:
        reason = json.loads(refusal.read() or b"{}").get("error", refusal.reason)
        raise JoinError(f"the class refused to let this laptop join: {reason}") from refusal
    except (OSError, urllib.error.URLError) as exc:
        raise JoinError(f"could not join the class at {host}:{port}: {exc}") from exc


class Participant(LoopbackFederation):
    """One laptop's learner in a class: its key pair, its SuperNode and its ClientApp worker.

        with Participant("my_class", "192.168.1.20", code="K7Q2PX9M", ca_sha256="3F2A9C4B7E5D") as me:
            print(me)          # Participant(learner 2 of 3, ...)
    """

    def __init__(self, directory: str | Path, address: str, code: str, ca_sha256: str, name: str = "",
                 client_app: str = CLIENT_APP):
        super().__init__(directory, n_learners=2, client_app=client_app)
        self.host, self.gateway_port = parse_address(address)
        self.code, self.ca_sha256 = code.replace("-", "").upper(), check_fingerprint(ca_sha256)
        self.name = name
        self.superlink_address = f"{self.host}:{self.gateway_port}"
        self.partition_id: int | None = None

    def __repr__(self) -> str:
        who = ("not joined" if self.partition_id is None
               else f"learner {self.partition_id} of {self.n_learners}")
        running = sum(p.poll() is None for p in self.processes)
        return f"Participant({who}, class at {self.superlink_address}, {running} processes running)"

    @property
    def events_path(self) -> Path:
        """Where this laptop's worker writes its learner's proposals and votes (``learner_events``)."""
        return self.directory / "logs" / "learner_events.jsonl"

    def environment(self) -> dict[str, str]:
        """``LoopbackFederation``'s, and the file the worker's ClientApp writes its learner's events to."""
        return {**super().environment(), EVENTS_VARIABLE: str(self.events_path)}

    def log_path(self, process: str) -> Path:
        """The log of its ``"supernode"`` or ``"worker_supernode"``, named as ``start_supernode`` names it."""
        return self.directory / "logs" / f"{process}_{self.partition_id}_participant.log"

    def keys(self) -> tuple[Path, Path]:
        """This laptop's key pair, made once and kept: rejoining with it gives back the same learner."""
        private = self.directory / "keys" / "participant"
        if private.exists() and private.with_suffix(".pub").exists():
            return private, private.with_suffix(".pub")
        return make_node_keys(self.directory / "keys", "participant")

    def start(self) -> Participant:
        """Pin the CA, join with the code, start this learner's SuperNode and worker."""
        private_key, public_key = self.keys()
        ca_pem = fetch_pinned_ca(self.host, self.gateway_port, self.ca_sha256)
        ca_file = self.directory / "tls" / "ca.crt"
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        ca_file.write_bytes(ca_pem)
        self.tls = TLSFiles(ca_file, ca_file, ca_file)  # a participant holds only the CA certificate
        answer = request_join(self.host, self.gateway_port, ca_pem, self.code,
                              public_key.read_text().strip(), self.name)
        self.partition_id, self.n_learners = int(answer["partition_id"]), int(answer["n_learners"])
        self.events_path.unlink(missing_ok=True)  # this join's events only
        self.connect(self.partition_id, private_key)
        return self

    def connect(self, partition_id: int, private_key: Path, timeout: float = 150.0) -> None:
        """Start the SuperNode and its worker until the SuperLink takes the node.

        Flower counts a node as online until two missed heartbeats (up to a minute) after it went, and
        refuses it until then: a laptop that rejoins sooner is retried every few seconds.
        """
        deadline = time.monotonic() + timeout
        while not self._supernode_activated(self.start_supernode(partition_id, private_key)):
            self.close()
            self.processes.clear()  # ended: only the next attempt's processes count as this laptop's
            if time.monotonic() > deadline:
                raise JoinError(f"the class did not take this laptop's SuperNode within {timeout:.0f} s; see "
                                f"{self.directory / 'logs'}")
            print("the class still counts this laptop as connected (it left less than a minute ago); "
                  "trying again in 5 s", flush=True)
            time.sleep(5)

    def _supernode_activated(self, supernode: subprocess.Popen, timeout: float = 60.0) -> bool:
        """True once the SuperNode's log says it has its node id; False if it ended first."""
        log = self.log_path("supernode")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "SuperNode ID:" in log.read_text(errors="replace"):
                return True
            if supernode.poll() is not None:
                return False
            time.sleep(0.2)
        return False
