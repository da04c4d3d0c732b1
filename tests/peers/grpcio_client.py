#!/usr/bin/env python3
"""gRPC interop peer: Python grpcio (C-core), no generated code.

    grpcio_client.py ADDR [CALLS_JSON]

CALLS_JSON (read from stdin when not given: large messages overflow argv) is a JSON list
of calls, made in order on one channel (one HTTP/2 connection) unless "fresh":

    {"path": "/go.micro.srv.sample.Example/Call",  # the method's path
     "kind": "unary" | "stream" | "bidi",          # unary_unary, unary_stream or stream_stream
     "hex": "0a04486f626f",                         # the request message's bytes
     "hexes": ["0801", "0802"],                     # bidi: the request messages' bytes
     "lockstep": true,                              # bidi: each message only once the reply
                                                    #   to the one before arrived
     "meta": [["x-request-id", "abc"],              # metadata, in order; a name ending
              ["trace-bin", "0001feff"]],           #   in -bin takes hex (sent as bytes)
     "timeout_ms": 200,                             # optional deadline
     "pause_ms": 600,                               # optional sleep before the call
     "fresh": true}                                 # on a channel (connection) of its own

For each call it prints one JSON line:

    {"code": 0, "name": "OK", "details": "", "replies": ["0a0a...", ...], "ms": 1.2}

code is the gRPC status code as the client library reports it, details its message
(percent-decoded by the library), replies the hex of every message received (a stream's
messages before its status too). Exit status 0 whatever the calls' statuses; 2 on bad usage.
"""

import json
import queue
import sys
import time

import grpc


def metadata(pairs):
    out = []
    for name, value in pairs:
        out.append((name, bytes.fromhex(value) if name.endswith("-bin") else value))
    return out


def one(channel, call):
    request = bytes.fromhex(call.get("hex", ""))
    kwargs = {"metadata": metadata(call.get("meta", []))}
    if call.get("timeout_ms") is not None:
        kwargs["timeout"] = call["timeout_ms"] / 1000.0
    if call.get("pause_ms"):
        time.sleep(call["pause_ms"] / 1000.0)
    replies = []
    code, details = grpc.StatusCode.OK, ""
    start = time.monotonic()
    try:
        kind = call.get("kind", "unary")
        if kind == "stream":
            # extend appends as the messages come: those before an error stay
            replies.extend(channel.unary_stream(call["path"])(request, **kwargs))
        elif kind == "bidi":
            messages = [bytes.fromhex(h) for h in call.get("hexes", [])]
            replied = queue.Queue()

            def requests():
                for message in messages:
                    yield message
                    if call.get("lockstep"):
                        replied.get(timeout=30)

            for reply in channel.stream_stream(call["path"])(requests(), **kwargs):
                replies.append(reply)
                replied.put(None)
        else:
            reply, _ = channel.unary_unary(call["path"]).with_call(request, **kwargs)
            replies.append(reply)
    except grpc.RpcError as err:
        code, details = err.code(), err.details() or ""
    return {
        "code": code.value[0],
        "name": code.name,
        "details": details,
        "replies": [r.hex() for r in replies],
        "ms": round((time.monotonic() - start) * 1000.0, 3),
    }


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    calls = json.loads(sys.argv[2] if len(sys.argv) == 3 else sys.stdin.read())
    with grpc.insecure_channel(sys.argv[1]) as channel:
        for call in calls:
            if call.get("fresh"):
                with grpc.insecure_channel(sys.argv[1]) as own:
                    result = one(own, call)
            else:
                result = one(channel, call)
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
