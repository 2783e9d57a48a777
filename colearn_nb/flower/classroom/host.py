"""The teacher's side: the class's certificates, the SuperLink on loopback, the gateway, the join line.

``ClassHost`` makes a certificate authority for the class and one certificate for the host's
addresses, starts Flower's SuperLink with TLS and SuperNode authentication on 127.0.0.1, and
the gateway (``colearn_nb.classroom.gateway``) on the room's address. Participants who give the
join code have their public keys registered and get the next partition id; a returning
participant (the same key) gets its own partition back. ``run`` starts the class's run once
everyone is in (or when the teacher says so) and follows it round by round. Between rounds the teacher
may make a laptop's learner propose an attack (``set_attack``) or change the vote threshold
(``set_vote_threshold``): the teacher's live controls (``protocol.class_controls``).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...protocol.checks import check_int
from ...protocol.class_controls import ClassControls
from ...protocol.class_settings import DEFAULT_DEADLINE_S
from ...protocol.results import Results
from ..deploy.loopback import CLIENT_APP, LoopbackFederation
from .gateway import Gateway, GatewaySettings, JoinRefused, make_gateway_app

logger = logging.getLogger(__name__)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 letters, 5 bits each; no 0/O or 1/I to misread
CODE_LETTERS, FINGERPRINT_LETTERS = 8, 12  # the join line's token: 40 bits of code, 60 of the CA's SHA-256
DEFAULT_PORT = 9093


def new_join_code(n_characters: int = CODE_LETTERS) -> str:
    """A random join code of ``n_characters`` letters of ``CODE_ALPHABET``, e.g. ``K7Q2PX9M``.

    >>> len(new_join_code()), set(new_join_code()) <= set(CODE_ALPHABET)
    (8, True)
    """
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n_characters))


def certificate_fingerprint(pem: bytes) -> str:
    """SHA-256 of a PEM certificate's DER bytes, in hex (what ``openssl x509 -fingerprint -sha256`` shows).

    >>> import tempfile
    >>> from colearn_nb.flower.deploy.credentials import make_tls_files
    >>> len(certificate_fingerprint(make_tls_files(tempfile.mkdtemp()).ca_certificate.read_bytes()))
    64
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)).hexdigest()


def short_fingerprint(pem: bytes, n_letters: int = FINGERPRINT_LETTERS) -> str:
    """The first ``5 * n_letters`` bits of a certificate's SHA-256 in ``CODE_ALPHABET`` (the join line's pin).

    >>> import tempfile
    >>> from colearn_nb.flower.deploy.credentials import make_tls_files
    >>> len(short_fingerprint(make_tls_files(tempfile.mkdtemp()).ca_certificate.read_bytes()))
    12
    """
    leading = int(certificate_fingerprint(pem), 16) >> (256 - 5 * n_letters)
    return "".join(CODE_ALPHABET[(leading >> 5 * (n_letters - 1 - i)) & 31] for i in range(n_letters))


def join_token(code: str, pem: bytes) -> str:
    """The join line's token: the join code, then the CA's short fingerprint, in groups of 4 letters.

    >>> import tempfile
    >>> from colearn_nb.flower.deploy.credentials import make_tls_files
    >>> token = join_token("K7Q2PX9M", make_tls_files(tempfile.mkdtemp()).ca_certificate.read_bytes())
    >>> token[:10], len(token)
    ('K7Q2-PX9M-', 24)
    """
    letters = code + short_fingerprint(pem)
    return "-".join(letters[i:i + 4] for i in range(0, len(letters), 4))


def split_token(token: str) -> tuple[str, str]:
    """(join code, short fingerprint) from a join line's token, as a participant typed it.

    >>> split_token("k7q2-px9m-3f2a-9c4b-7e5d")
    ('K7Q2PX9M', '3F2A9C4B7E5D')
    """
    letters = token.replace("-", "").replace(" ", "").upper()
    wrong = sorted(set(letters) - set(CODE_ALPHABET))
    if wrong or len(letters) != CODE_LETTERS + FINGERPRINT_LETTERS:
        raise ValueError(f"token: got {token!r} ({len(letters)} letters); expected the join line's last "
                         f"part, {CODE_LETTERS + FINGERPRINT_LETTERS} letters and digits 2-9 in groups of 4 "
                         "like K7Q2-PX9M-3F2A-9C4B-7E5D (no 0, 1, I or O"
                         + (f"; not {', '.join(wrong)})" if wrong else ")"))
    return letters[:CODE_LETTERS], letters[CODE_LETTERS:]


def fingerprint_matches(pem: bytes, pinned: str) -> bool:
    """Whether a certificate is the pinned one: ``pinned`` is its SHA-256 in hex, or its short fingerprint.

    >>> import tempfile
    >>> from colearn_nb.flower.deploy.credentials import make_tls_files
    >>> pem = make_tls_files(tempfile.mkdtemp()).ca_certificate.read_bytes()
    >>> fingerprint_matches(pem, short_fingerprint(pem)), fingerprint_matches(pem, "A" * 12)
    (True, False)
    """
    digits = pinned.replace(":", "")
    if len(digits) == 64:
        return hmac.compare_digest(certificate_fingerprint(pem), digits.lower())
    if len(digits) != FINGERPRINT_LETTERS:
        raise ValueError(f"pinned: got {pinned!r}; expected 64 hex digits or {FINGERPRINT_LETTERS} letters")
    return hmac.compare_digest(short_fingerprint(pem), digits.upper())


def room_address(default: str | None = None) -> str:
    """This machine's first IPv4 address that is not loopback: the one laptops in the room dial.

    Without one, ``default`` if given (``"127.0.0.1"``: a rehearsal on this machine), else ``ValueError``.
    """
    import socket

    import psutil

    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    if default is not None:
        return default
    raise ValueError("address: this machine has no network address but loopback; connect it to the room's "
                     "network, or give the address laptops dial")


class ClassHost(LoopbackFederation):
    """A class of ``n_learners`` laptops: SuperLink on loopback, the gateway on ``address``:``port``.

        with ClassHost("class", n_learners=3, address="192.168.1.20", port=9093) as host:
            print(host.join_line())
            results = host.run(n_rounds=10)
    """

    def __init__(self, directory: str | Path, n_learners: int, address: str, port: int = DEFAULT_PORT,
                 names: Sequence[str] = (), join_code: str | None = None, start_timeout: float = 120.0,
                 client_app: str = CLIENT_APP):
        check_int("n_learners", n_learners, minimum=2, hint=": collective learning needs at least 2 learners")
        check_int("port", port, minimum=1, maximum=65535)
        if join_code is not None and (len(join_code) != CODE_LETTERS or set(join_code) - set(CODE_ALPHABET)):
            raise ValueError(f"join_code: got {join_code!r}; expected {CODE_LETTERS} of the letters "
                             f"{CODE_ALPHABET}")
        super().__init__(directory, n_learners=n_learners, start_timeout=start_timeout, client_app=client_app)
        self.address, self.gateway_port, self.join_code = address, port, join_code or new_join_code()
        self.tls_hosts = tuple(dict.fromkeys(("127.0.0.1", "localhost", address, *names)))
        self.members: dict[str, dict[str, Any]] = {}  # public key -> the join answer it got
        self.node_ids: dict[int, int] = {}  # partition id -> the SuperLink's node id for its key
        self.lock = threading.Lock()
        self.gateway: Gateway | None = None
        self.class_full = threading.Event()
        self.vote_threshold, self.threshold_changed = 0.5, False  # the run's; whether the teacher changed it

    def __repr__(self) -> str:
        return (f"ClassHost({len(self.members)} of {self.n_learners} joined, gateway "
                f"{self.address}:{self.gateway_port}, in {self.directory})")

    def start(self) -> ClassHost:
        """Start the SuperLink on loopback and the gateway on the room's address."""
        self.start_superlink()
        tls = self.tls_files()
        settings = GatewaySettings(self.port, tls.ca_certificate.read_bytes(), self.join_code, self.admit)
        app = make_gateway_app(settings, str(tls.ca_certificate))
        self.gateway = Gateway(app, self.address, self.gateway_port, str(tls.server_certificate),
                               str(tls.server_key)).start()
        return self

    def join_options(self) -> dict[str, str]:
        """What a laptop needs to join, as ``Participant`` takes it: address, code, CA fingerprint, app."""
        fingerprint = certificate_fingerprint(self.tls_files().ca_certificate.read_bytes())
        return {"address": f"{self.address}:{self.gateway_port}", "code": self.join_code,
                "ca_sha256": fingerprint, "client_app": self.client_app}

    def join_line(self) -> str:
        """The one line every participant types: the address (the port when not 9093), then the token: the
        join code and the first 60 bits of the class CA's fingerprint (and the app, when the class runs
        another than the kit's MNIST app)."""
        port = "" if self.gateway_port == DEFAULT_PORT else f":{self.gateway_port}"
        token = join_token(self.join_code, self.tls_files().ca_certificate.read_bytes())
        return (f"python -m colearn_nb join {self.address}{port} {token}"
                + (f" --app {self.client_app}" if self.client_app != CLIENT_APP else ""))

    def admit(self, public_key: str, name: str) -> dict[str, Any]:
        """Register a participant's key (once) and answer with its partition id; refuse when full."""
        if not public_key.startswith("ecdsa-sha2-") or len(public_key) > 1000 or "\n" in public_key:
            raise JoinRefused("public_key: expected one OpenSSH ECDSA public key line")
        with self.lock:
            if public_key in self.members:
                logger.info("%s rejoined as learner %d", name, self.members[public_key]["partition_id"])
                return self.members[public_key]
            if len(self.members) >= self.n_learners:
                raise JoinRefused(f"the class is full: {self.n_learners} learners have joined")
            partition_id = len(self.members)
            key_file = self.directory / "keys" / f"participant{partition_id}.pub"
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(public_key + "\n")
            node_id = self.register(key_file)
            self.members[public_key] = {"partition_id": partition_id, "n_learners": self.n_learners,
                                        "name": name or f"learner {partition_id}"}
            self.node_ids[partition_id] = node_id
            if len(self.members) == self.n_learners:
                self.class_full.set()
        logger.info("%s joined as learner %d", name, partition_id)
        return self.members[public_key]

    def roster(self, results: Results | None = None, connected: bool = True) -> list[dict[str, Any]]:
        """Who joined, in learner order, whether each is connected, and how each did in the last round.

        Plain data, one dict a laptop: ``learner``, ``name``; ``connection`` as the SuperLink sees the
        laptop's SuperNode (``"online"``, ``"offline"``, ``"registered"``: not yet connected; ``None`` when
        not asked, ``connected=False``: asking costs a ``flwr`` command, about a second); ``last_round`` of
        ``results``: ``"answered"``, ``"missing"`` (no answer before the deadline, or an error) or ``None``
        before the first round. Flower marks a laptop offline only after two missed heartbeats (a minute).
        """
        last = results.data[-1] if results is not None and len(results.data) > 1 else None
        missing = set(last.missing) if last is not None else set()
        statuses = self.node_statuses() if connected and self.node_ids else {}
        members = sorted(self.members.values(), key=lambda member: member["partition_id"])
        return [{"learner": m["partition_id"], "name": m["name"],
                 "connection": statuses.get(self.node_ids.get(m["partition_id"], -1)),
                 "last_round": None if last is None else "missing" if m["partition_id"] in missing
                 else "answered"} for m in members]

    def wait_for_class(self, timeout: float | None = None, start_now: threading.Event | None = None) -> int:
        """Wait until every learner has joined, or ``start_now`` is set; the number that joined."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.class_full.wait(0.2):
            if start_now is not None and start_now.is_set() and len(self.members) >= 2:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.members)} of {self.n_learners} learners joined in {timeout} s")
        return len(self.members)

    def set_attack(self, learner: int, attack: str | None) -> ClassControls:
        """From the next round, ``learner`` proposes ``attack`` (``"garbage"``, ``"sign-flip"``; ``None``:
        honest again) whenever it is the proposer; the controls now."""
        return self._change(lambda controls: controls.with_attack(learner, attack, self.n_learners))

    def set_vote_threshold(self, vote_threshold: float) -> ClassControls:
        """From the next round, the vote threshold is ``vote_threshold``; the controls now."""
        return self._change(lambda controls: controls.with_threshold(vote_threshold), sets_threshold=True)

    def _change(self, change: Callable[[ClassControls], ClassControls],
                sets_threshold: bool = False) -> ClassControls:
        """Apply ``change`` to the controls (the run's threshold, nobody attacking, before the first) and
        hand them to the run; the controls now."""
        with self.lock:
            changed = change(self.controls or ClassControls(self.vote_threshold))
            self.set_controls(changed)
            self.threshold_changed |= sets_threshold
            return changed

    def run_class(self, n_rounds: int, vote_threshold: float = 0.5,
                  round_deadline: float | None = DEFAULT_DEADLINE_S,
                  on_round: Callable[[Results], None] | None = None, timeout: float = 600.0) -> Results:
        """Run the class with those who joined (learners 0 to joined - 1); its ``Results``."""
        self.n_learners = len(self.members)
        with self.lock:
            self.vote_threshold = vote_threshold
            if self.controls is not None and not self.threshold_changed:  # attacks set before the start
                self.controls = self.controls.with_threshold(vote_threshold)
        return self.run(n_rounds, vote_threshold, timeout=timeout, round_deadline=round_deadline,
                        on_round=on_round)

    def close(self) -> None:
        """Stop the gateway, then every Flower process."""
        if self.gateway is not None:
            self.gateway.stop()
        super().close()
