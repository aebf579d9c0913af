#!/usr/bin/env python3
"""A small cloud built on aiocoap, the independent peer: EDHOC responder and OSCORE server.

It serves the resources of docs/protocol.md so that a Ferrule device can run against it:
  POST /t  telemetry: recorded as one JSON line in --record, answered 2.04; the first answer
           carries --command (once), later ones are empty.
  GET  /c  the pending command, if not delivered yet (2.05).
Only requests that arrived through OSCORE with an EDHOC-authenticated peer are served; others get
4.01. Credentials come from `ferrule device export NAME --format aiocoap-server`.

Usage: aiocoap_cloud.py --bind HOST:PORT --credentials FILE.diag --record FILE [--command TEXT]
Prints "ready" on stdout once it listens.
"""

import argparse
import asyncio
import base64
import json
import sys

import aiocoap
import aiocoap.resource as resource
import cbor2
import cbor_diag
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper


def peer_of(request):
    """The authenticated claims of the request's peer, or None if it was not OSCORE-protected."""
    claims = list(request.remote.authenticated_claims)
    return claims or None


class Telemetry(resource.Resource):
    def __init__(self, record, state):
        super().__init__()
        self.record = record
        self.state = state

    async def render_post(self, request):
        peer = peer_of(request)
        if peer is None:
            return aiocoap.Message(code=aiocoap.UNAUTHORIZED, payload=b"OSCORE required")
        line = {
            "peer": [str(c) for c in peer],
            "content_format": None if request.opt.content_format is None else int(request.opt.content_format),
            "payload_b64": base64.b64encode(request.payload).decode(),
        }
        with open(self.record, "a") as f:
            f.write(json.dumps(line) + "\n")
        payload = b""
        if self.state["command"] is not None:
            payload, self.state["command"] = self.state["command"], None
        return aiocoap.Message(code=aiocoap.CHANGED, payload=payload)


class Commands(resource.Resource):
    def __init__(self, state):
        super().__init__()
        self.state = state

    async def render_get(self, request):
        if peer_of(request) is None:
            return aiocoap.Message(code=aiocoap.UNAUTHORIZED, payload=b"OSCORE required")
        payload = b""
        if self.state["command"] is not None:
            payload, self.state["command"] = self.state["command"], None
        return aiocoap.Message(code=aiocoap.CONTENT, payload=payload)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--credentials", required=True, help="aiocoap server credentials (EDN)")
    parser.add_argument("--record", required=True, help="file to append received telemetry to")
    parser.add_argument("--command", default=None, help="a command to deliver once")
    args = parser.parse_args()

    state = {"command": args.command.encode() if args.command else None}
    root = resource.Site()
    root.add_resource(["t"], Telemetry(args.record, state))
    root.add_resource(["c"], Commands(state))

    credentials = CredentialsMap()
    with open(args.credentials) as f:
        credentials.load_from_dict(cbor2.loads(cbor_diag.diag2cbor(f.read())))
    site = OscoreSiteWrapper(root, credentials)

    host, port = args.bind.rsplit(":", 1)
    await aiocoap.Context.create_server_context(
        site, bind=(host, int(port)), server_credentials=credentials
    )
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
