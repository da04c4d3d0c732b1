#!/usr/bin/env python3
"""gRPC interop peer: a Python grpcio (C-core) server, no generated code.

    grpcio_server.py

Serves go.micro.srv.sample.Example on 127.0.0.1 (a free port) with handlers on raw bytes
(no serializers) and prints the port as its stdout's first line:

    Call    proto (field 1 string name -> field 1 string "Hello " + name), or JSON when the
            x-content-type metadata (or content-type) names json ({"name"} -> {"msg"});
            an empty name: INVALID_ARGUMENT with the go-micro error JSON as the message
    Plain   NOT_FOUND with a plain (non-JSON) message
    Slow    answers after 2 s (an empty message)
    Stream  StreamingRequest{count: N} -> N messages StreamingResponse{count: i}, i = 0..N-1,
            in proto or (as Call) in JSON
    Die     2 messages, then waits (30 s at most) for "die" on stdin
    PingPong  bidirectional: each Ping{stroke} back as a Pong{stroke} as it comes, in proto or
            (as Call) in JSON

Stdin, one command a line: "die" ends the process at once (os._exit: every connection closes
mid-stream), "goaway" stops the server gracefully (GOAWAY, in-flight calls finish) and exits.
EOF on stdin stops the server and exits.
"""

import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "go.micro.srv.sample.Example"
BAD_NAME = json.dumps(
    {
        "id": "go.micro.srv.sample",
        "code": 400,
        "detail": "name must not be empty",
        "status": "Bad Request",
    },
    separators=(",", ":"),
)

# Set by "die" on stdin; Die's handler waits on it (it never returns: the process ends).
DIE = threading.Event()


def varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def encode_varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(data, number):
    """The last value of field `number` (varint or length-delimited) in a proto message."""
    i, found = 0, None
    while i < len(data):
        key, i = varint(data, i)
        wire = key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 2:
            n, i = varint(data, i)
            value, i = data[i : i + n], i + n
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError("bad wire type")
        if key >> 3 == number:
            found = value
    return found


def is_json(context):
    for name, value in context.invocation_metadata():
        if name in ("x-content-type", "content-type") and "json" in str(value):
            return True
    return False


def call(request, context):
    if is_json(context):
        name = json.loads(request or b"{}").get("name", "")
    else:
        name = (field(request, 1) or b"").decode()
    if not name:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, BAD_NAME)
    msg = "Hello " + name
    if is_json(context):
        return json.dumps({"msg": msg}).encode()
    body = msg.encode()
    return b"\x0a" + encode_varint(len(body)) + body


def plain(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def slow(request, context):
    time.sleep(2)
    return b""


def stream(request, context):
    if is_json(context):
        count = json.loads(request or b"{}").get("count", 0)
        for i in range(int(count)):
            yield json.dumps({"count": i}).encode()
        return
    count = field(request, 1) or 0
    for i in range(count):
        yield b"\x08" + encode_varint(i)


def die(request, context):
    yield b"\x08\x01"
    yield b"\x08\x02"
    DIE.wait(30)


def ping_pong(requests, context):
    as_json = is_json(context)
    for request in requests:
        if as_json:
            stroke = json.loads(request or b"{}").get("stroke", 0)
            yield json.dumps({"stroke": stroke}).encode()
        else:
            stroke = field(request, 1) or 0
            yield b"\x08" + encode_varint(stroke) if stroke else b""


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    handlers = {
        "Call": grpc.unary_unary_rpc_method_handler(call),
        "Plain": grpc.unary_unary_rpc_method_handler(plain),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Die": grpc.unary_stream_rpc_method_handler(die),
        "PingPong": grpc.stream_stream_rpc_method_handler(ping_pong),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "die":
            DIE.set()
            os._exit(0)
        if command == "goaway":
            server.stop(grace=10).wait(20)
            os._exit(0)
    server.stop(grace=None)
    os._exit(0)


if __name__ == "__main__":
    main()
