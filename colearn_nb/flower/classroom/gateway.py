"""The classroom's one door: a TLS port that forwards only Flower's Fleet API and lets participants join.

The SuperLink listens on 127.0.0.1 of the teacher's machine, where its Control API (start runs,
register nodes: whoever reaches it can make every SuperNode run code) stays out of the room's reach.
The gateway listens on the room's network with the class's certificate and answers three things:

- ``/v1/fleet/...``: forwarded to the SuperLink as it is (SuperNodes sign their requests; the
  SuperLink checks the signatures), the only Flower path that passes;
- ``GET /classroom/ca.crt``: the class's CA certificate, which a participant pins by the fingerprint
  in the join line before trusting anything else;
- ``POST /classroom/join``: a public key and the join code; the host registers the key and answers
  with the learner's partition id. A wrong code is refused, and nothing is registered.

Everything else is 404. Built on what Flower itself runs on: Starlette, uvicorn and httpx.
"""
from __future__ import annotations

import hmac
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger(__name__)
FLEET_PREFIX = "/v1/fleet/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length",
              "content-encoding", "te", "trailer", "proxy-authorization", "proxy-authenticate"}
Register = Callable[[str, str], dict[str, Any]]  # (public key, participant's name) -> the join answer


class JoinRefused(Exception):
    """A join the host turns down (class full, bad key), with the reason the participant is shown."""


@dataclass
class GatewaySettings:
    """Where the SuperLink listens (on loopback) and what the gateway holds."""

    superlink_port: int
    ca_certificate: bytes  # PEM, given to anyone (its fingerprint is in the join line)
    join_code: str
    register: Register


def _forwarded_headers(headers: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP]


def make_gateway_app(settings: GatewaySettings, superlink_ca_file: str) -> Starlette:
    """The gateway's Starlette app: the Fleet API forwarded, the CA certificate, the join endpoint."""
    import httpx
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{settings.superlink_port}", timeout=120.0,
                                     verify=ssl.create_default_context(cafile=superlink_ca_file)) as client:
            clients["superlink"] = client
            yield

    async def fleet(request: Request) -> Response:
        answer = await clients["superlink"].request(request.method, request.url.path,
                                                    params=request.query_params,
                                        content=await request.body(),
                                        headers=_forwarded_headers(request.headers))
        return Response(answer.content, answer.status_code, headers=dict(_forwarded_headers(answer.headers)))

    async def ca_certificate(request: Request) -> Response:
        return Response(settings.ca_certificate, media_type="application/x-pem-file")

    async def join(request: Request) -> Response:
        try:
            asked = await request.json()
            code, key, name = str(asked["code"]), str(asked["public_key"]), str(asked.get("name", ""))[:40]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected JSON with code and public_key"}, 400)
        if not hmac.compare_digest(code.encode(), settings.join_code.encode()):
            logger.warning("join refused: wrong code from %s", request.client)
            return JSONResponse({"error": "wrong join code: check the join line the teacher shows"}, 403)
        try:
            return JSONResponse(await run_in_threadpool(settings.register, key, name))
        except JoinRefused as refusal:
            return JSONResponse({"error": str(refusal)}, 409)

    async def not_here(request: Request) -> Response:
        return JSONResponse({"error": "not served here"}, 404)

    routes = [Route(FLEET_PREFIX + "{rest:path}", fleet, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
              Route("/classroom/ca.crt", ca_certificate), Route("/classroom/join", join, methods=["POST"]),
              Route("/{rest:path}", not_here, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])]
    return Starlette(routes=routes, lifespan=lifespan)


class Gateway:
    """The gateway served by uvicorn in a thread, on ``host``:``port`` with the class's certificate."""

    def __init__(self, app: Starlette, host: str, port: int, certificate: str, key: str):
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, ssl_certfile=certificate, ssl_keyfile=key,
                                log_level="warning", access_log=False, lifespan="on", ws="none")
        self.server, self.address = uvicorn.Server(config), f"{host}:{port}"
        self.thread = threading.Thread(target=self.server.run, name="classroom-gateway", daemon=True)

    def __repr__(self) -> str:
        return f"Gateway({self.address}, {'running' if self.thread.is_alive() else 'stopped'})"

    def start(self, timeout: float = 30.0) -> Gateway:
        """Serve in a thread; returns once it listens (raises if it could not start)."""
        self.thread.start()
        for _ in range(int(timeout / 0.05)):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not self.server.started:
            raise RuntimeError(f"the classroom gateway could not listen on {self.address} (port in use?)")
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
