"""The command line of ``python -m colearn_nb host|join``: a class of laptops in two commands.

    python -m colearn_nb host --learners 3 --rounds 10            # the teacher; prints the join line
    python -m colearn_nb join 192.168.1.20 K7Q2-PX9M-3F2A-9C4B-7E5D   # a laptop: the join line

(``python -m colearn_nb.classroom`` runs the same commands.) While the class runs, the teacher types a
control and Enter at the host (``CONTROLS``): ``attack 2 garbage`` or ``attack 2 sign-flip`` (learner 2
proposes that whenever it proposes, from the next round), ``honest 2``, ``threshold 0.7``.
"""
from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from ...protocol.class_settings import DEFAULT_DEADLINE_S, check_class_settings
from ...protocol.report import proposed
from ...protocol.results import Results
from ..deploy.loopback import CLIENT_APP, check_app_reference
from .ending import ClassEnded, Ending
from .host import DEFAULT_PORT

HOST_OPTIONS = {"address": "--address", "port": "--port", "n_learners": "--learners", "n_rounds": "--rounds",
                "vote_threshold": "--threshold", "round_deadline": "--deadline"}  # setting -> its option
CONTROLS = "'attack 2 garbage', 'attack 2 sign-flip', 'honest 2' or 'threshold 0.7'"
APP_HELP = ("the ClientApp every learner runs, module:attribute installed on every laptop (default: the "
            "kit's MNIST learners)")


def round_line(results: Results, round_index: int) -> str:
    """One line about a round: proposer, decision, votes, the shared model's score, who was missing and why
    (the round's ``errors``, when someone was)."""
    result = results.data[round_index + 1]
    approves = sum(vote is True for vote in result.votes)
    return (f"round {round_index}: learner {result.block_proposer} {proposed(result)}"
            + f", {'accepted' if result.vote else 'rejected'} ({approves} of {len(result.votes) - 1} yes"
            + (f", threshold {result.vote_threshold:g}" if result.vote_threshold is not None else "")
            + f"); shared model {results.shared_model_scores[round_index + 1]:.3f}"
            + "".join(f"; {reason}" for reason in (result.errors if result.missing else [])))


def control(classroom, command: str) -> str:
    """Carry out one of the teacher's typed controls (``CONTROLS``); the line saying what changed, or why not.

    ``classroom``: the host, with ``set_attack(learner, attack)`` and ``set_vote_threshold(value)``.
    """
    words = command.split()
    try:
        if len(words) == 3 and words[0] == "attack":
            controls = classroom.set_attack(learner_number(words[1]), words[2])
        elif len(words) == 2 and words[0] == "honest":
            controls = classroom.set_attack(learner_number(words[1]), None)
        elif len(words) == 2 and words[0] == "threshold":
            controls = classroom.set_vote_threshold(threshold_number(words[1]))
        else:
            return f"host: {command!r} is not a control; type {CONTROLS}, then Enter"
    except ValueError as wrong:
        return f"host: {command!r} not done: {wrong}"
    return f"from the next round: {controls.describe()}"


def threshold_number(word: str) -> float:
    """A vote threshold as typed; ``ValueError`` if it is no number (its range is the controls' check)."""
    try:
        return float(word)
    except ValueError:
        raise ValueError(f"threshold: got {word!r}; expected a number in [0, 1], e.g. 0.7") from None


def learner_number(word: str) -> int:
    """A learner's number as typed; ``ValueError`` if it is no whole number."""
    if not word.isdigit():
        raise ValueError(f"learner: got {word!r}; expected a learner's number, e.g. 2")
    return int(word)


class RoundPrinter:
    """An ``on_round`` printing a line for every round it has not printed yet; it keeps the rounds so far."""

    def __init__(self) -> None:
        self.results: Results | None = None

    def __repr__(self) -> str:
        return f"RoundPrinter({self.n_rounds} rounds printed)"

    @property
    def n_rounds(self) -> int:
        """How many rounds have completed."""
        return 0 if self.results is None else len(self.results.data) - 1

    def __call__(self, results: Results) -> None:
        for round_index in range(self.n_rounds, len(results.data) - 1):
            print(round_line(results, round_index), file=sys.stderr, flush=True)
        self.results = results


def host(args: argparse.Namespace) -> None:
    """The teacher's command (``args`` checked): start the class, print the join line, run when all are in.

    Enter (once the rounds run), Ctrl-C, SIGTERM or SIGHUP end it: every process it started ends, the rounds
    done are saved, one line says so.
    """
    from .host import ClassHost

    rounds = RoundPrinter()
    with Ending() as ending:
        try:
            with ClassHost(args.dir, args.learners, args.address, args.port,
                           client_app=args.app) as classroom:
                run_hosted_class(classroom, args, ending, rounds)
        except ClassEnded as ended:  # every process of the class has ended: the with block closed it
            say(save_rounds_done(ended.how, rounds, args), sys.stderr)
            raise SystemExit(ended.exit_status) from None
    assert rounds.results is not None
    rounds.results.save(args.results)
    print(f"results in {args.results}: {rounds.results!r}", file=sys.stderr)


def run_hosted_class(classroom, args: argparse.Namespace, ending: Ending, rounds: RoundPrinter) -> None:
    """Print the join line, wait for the laptops (or Enter), run the rounds; Enter then ends the class.

    A line typed with a control (``CONTROLS``) changes the class from the next round instead.
    """
    print(classroom.join_line(), flush=True)
    print(f"waiting for {args.learners} learners; press Enter to start with those who joined",
          file=sys.stderr, flush=True)
    start_now, rounds_begun = threading.Event(), threading.Event()

    def on_enter() -> None:
        while line := sys.stdin.readline():  # at the end of input (no terminal) nothing: wait for everyone
            if line.strip():
                say(control(classroom, line.strip()), sys.stderr)
            elif rounds_begun.is_set():
                ending.end("Enter")
                return
            else:
                start_now.set()

    threading.Thread(target=on_enter, daemon=True).start()
    n_joined = wait_for_laptops(classroom, start_now)
    rounds_begun.set()
    print(f"{n_joined} learners in; {args.rounds} rounds (Enter or Ctrl-C ends the class, keeping the rounds "
          f"done; to change the class from the next round type {CONTROLS}, then Enter)", file=sys.stderr,
          flush=True)
    rounds(classroom.run_class(args.rounds, args.threshold, args.deadline, on_round=rounds))


def save_rounds_done(how: str, rounds: RoundPrinter, args: argparse.Namespace) -> str:
    """Save the rounds done of a class ended early; the one line ``host`` ends with: how, what, where."""
    done = f"after {rounds.n_rounds} of {args.rounds} rounds" if rounds.n_rounds else "before its first round"
    saved = "nothing to save"
    if rounds.results is not None:
        rounds.results.save(args.results)
        saved = f"{'the round' if rounds.n_rounds == 1 else 'those rounds'} saved in {args.results}"
    return f"host: the class ended ({how}) {done}; every process it started has ended; {saved}"


def say(line: str, stream: TextIO) -> None:
    """Print the command's last line, unless its terminal is gone (closed: SIGHUP) and nobody can read it."""
    try:
        print(line, file=stream, flush=True)
    except OSError:
        pass


def wait_for_laptops(classroom, start_now: threading.Event) -> int:
    """Wait for every learner (or Enter, with at least 2 in), printing a line as each laptop joins."""
    shown = 0
    while True:
        try:
            n_joined: int | None = classroom.wait_for_class(timeout=1.0, start_now=start_now)
        except TimeoutError:
            n_joined = None
        for row in classroom.roster(connected=False)[shown:]:
            shown += 1
            print(f"learner {row['learner']} joined ({row['name']}); {shown} of {classroom.n_learners} in",
                  file=sys.stderr, flush=True)
        if n_joined is not None:
            return n_joined


def join(args: argparse.Namespace, secrets: tuple[str, str]) -> None:
    """A participant's command: join the class (``secrets``: its code and CA fingerprint), run this laptop's
    learner until Ctrl-C, SIGTERM or SIGHUP; then its SuperNode and worker end and one line says so."""
    from .participant import JoinError, Participant

    code, fingerprint = secrets
    participant = Participant(args.dir, args.address, code, fingerprint, args.name, args.app)
    with Ending():
        try:
            participant.start()
            print(f"joined as learner {participant.partition_id} of {participant.n_learners}; this laptop's "
                  "votes appear below as the rounds run (Ctrl-C leaves the class)", flush=True)
            follow_votes(participant)
        except JoinError as refusal:
            raise SystemExit(f"join: {refusal}") from None
        except ClassEnded as ended:
            participant.close()
            joined = "left the class" if participant.partition_id is not None else "stopped before joining"
            say(f"join: {joined} ({ended.how}); this laptop's SuperNode and worker have ended", sys.stdout)
            raise SystemExit(ended.exit_status) from None
        finally:
            participant.close()


def check_host_settings(args: argparse.Namespace) -> argparse.Namespace:
    """``host``'s settings checked before anything starts, as the projector's form checks them (``ValueError``
    names the option); fills in the default address, checks the gateway could listen there."""
    from .host import room_address

    given = {"address": args.address or room_address(), "port": args.port, "n_learners": args.learners,
             "n_rounds": args.rounds, "vote_threshold": args.threshold, "round_deadline": args.deadline}
    checked = check_class_settings(given, names=HOST_OPTIONS)
    check_app_option(args.app)
    if not args.results.parent.is_dir() or args.results.is_dir():
        raise ValueError(f"--results: got {str(args.results)!r}; expected a file in a folder that exists, "
                         "e.g. classroom_results.json")
    check_listening(checked["address"], checked["port"])
    as_given = {option.lstrip("-"): checked[name] for name, option in HOST_OPTIONS.items()}
    return argparse.Namespace(**{**vars(args), **as_given})


def check_listening(address: str, port: int) -> None:
    """``ValueError`` unless this machine can listen on ``address``:``port`` now (the gateway's door)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((address, port))
        except socket.gaierror:
            raise ValueError(f"--address: got {address!r}, a name this machine cannot resolve; give the "
                             "address laptops dial, e.g. 192.168.1.20") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ValueError(f"--port: {port} is in use on {address} (another class still open?); end "
                                 "it, or give another --port") from None
            raise ValueError(f"--address: got {address!r}, not an address of this machine ({exc.strerror}); "
                             "give one of its own, the one laptops dial") from None


def check_app_option(app: str) -> None:
    """``--app``: ``module:attribute`` (``check_app_reference``, the message naming the option)."""
    try:
        check_app_reference(app)
    except ValueError as wrong:
        raise ValueError(str(wrong).replace("client_app:", "--app:", 1)) from None


def check_join_settings(args: argparse.Namespace) -> tuple[str, str]:
    """``join``'s settings checked before anything starts; (join code, CA fingerprint) from them."""
    from .participant import check_fingerprint, parse_address

    parse_address(args.address)
    check_app_option(args.app)
    code, fingerprint = join_secrets(args)
    try:
        check_fingerprint(fingerprint)
    except ValueError as wrong:
        raise ValueError(str(wrong).replace("ca_sha256:", "--ca-sha256:", 1)) from None
    if not args.name.strip():
        raise ValueError("--name: empty; give the name the teacher sees, e.g. --name ada")
    return code, fingerprint


def join_secrets(args: argparse.Namespace) -> tuple[str, str]:
    """(join code, CA fingerprint) from the join line's token, or from ``--code`` and ``--ca-sha256``."""
    from .host import split_token

    if args.token and (args.code or args.ca_sha256):
        raise ValueError("token: give the join line's token, or --code and --ca-sha256, not both")
    if args.token:
        return split_token(args.token)
    if not (args.code and args.ca_sha256):
        raise ValueError("token: missing; copy the whole join line, e.g. python -m colearn_nb join "
                         "192.168.1.20 K7Q2-PX9M-3F2A-9C4B-7E5D")
    return args.code, args.ca_sha256


def follow_votes(participant, interval_s: float = 0.5) -> None:
    """Print this learner's proposals and votes as its worker records them; stops if a process ends."""
    from ..learner_events import read_events

    position = 0
    while all(process.poll() is None for process in participant.processes):
        events, position = read_events(participant.events_path, position)
        for event in events:
            print(event.line(), flush=True)
        time.sleep(interval_s)
    raise SystemExit("join: this laptop's SuperNode or worker stopped; run the join line again to rejoin")


def parser() -> argparse.ArgumentParser:
    """The command line: ``host`` and ``join``."""
    main = argparse.ArgumentParser(prog="python -m colearn_nb", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    teacher = commands.add_parser("host", help="the teacher: start the class and print the join line")
    teacher.add_argument("--learners", type=int, required=True, help="how many laptops take part")
    teacher.add_argument("--rounds", type=int, required=True, help="how many voting rounds")
    teacher.add_argument("--port", type=int, default=DEFAULT_PORT,
                         help=f"the port laptops dial (default {DEFAULT_PORT})")
    teacher.add_argument("--threshold", type=float, default=0.5, help="the vote threshold (default 0.5)")
    teacher.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S,
                         help=f"seconds a connected laptop is waited for in each step of a round (default "
                              f"{DEFAULT_DEADLINE_S:g}); a laptop that left counts as missing as soon as "
                              "Flower notices, within a minute")
    teacher.add_argument("--address", help="the address laptops dial (default: this machine's first)")
    teacher.add_argument("--dir", type=Path, default=Path("classroom_host"), help="certificates, keys, logs")
    teacher.add_argument("--results", type=Path, default=Path("classroom_results.json"))
    teacher.add_argument("--app", default=CLIENT_APP, help=APP_HELP)
    laptop = commands.add_parser("join", help="a participant: join the class with the teacher's join line")
    laptop.add_argument("address", help="HOST or HOST:PORT from the join line")
    laptop.add_argument("token", nargs="?", help="the join line's last part: the join code, then the first "
                        "60 bits of the class certificate's fingerprint")
    laptop.add_argument("--code", help="the join code alone (with --ca-sha256, instead of the token)")
    laptop.add_argument("--ca-sha256", help="the class certificate's full SHA-256 fingerprint, 64 hex digits "
                        "(with --code, instead of the token: pins all 256 bits)")
    laptop.add_argument("--name", default=socket.gethostname()[:40],
                        help="the name the teacher sees (default: this computer's name)")
    laptop.add_argument("--dir", type=Path, default=Path("classroom"), help="this laptop's key and logs")
    laptop.add_argument("--app", default=CLIENT_APP, help=APP_HELP + " (the join line names it)")
    return main


def main(argv: list[str] | None = None) -> None:
    from ..environment import quiet_flower_environment, require_flwr

    commands = parser()
    args = commands.parse_args(argv)
    try:  # every setting checked before anything starts: what was wrong, what to give, exit status 2
        args = check_host_settings(args) if args.command == "host" else args
        secrets = check_join_settings(args) if args.command == "join" else ("", "")
    except ValueError as bad_input:
        commands.error(str(bad_input))
    require_flwr()
    quiet_flower_environment()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        host(args) if args.command == "host" else join(args, secrets)
    except ValueError as bad_input:  # found later (e.g. by Flower): without a traceback too
        commands.error(str(bad_input))


if __name__ == "__main__":
    main()
