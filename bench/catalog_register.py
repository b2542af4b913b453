#!/usr/bin/env python3
"""Catalog loader for bench/catalog_scale.sh (not part of the test suite).

Registers NODES nodes with 5 services each through PUT /v1/catalog/register, one registration
(the node, one service, one passing service check) per request, over CONCURRENCY keep-alive
connections (asyncio, plain sockets, HTTP/1.1). Node i (node-00000 .. ) at 10.x.y.z gets:

    s1  "hot" for i < HOT (default 1,000 instances), else "alpha-<i % 10>"
    s2  "beta-<i % 20>"      s3  "gamma-<i % 50>"      s4  "delta-<i % 100>"
    s5  "epsilon-<i % 1000>"

each with tags ["v1", "rack-<i % 8>"], port 8000 + k, meta {"version": "1.<i % 7>"}, and the
check "service:<id>" (status passing) on it. Prints one line the shell script parses:

    RESULT registrations=N seconds=S per_second=R errors=E client_cpu_s=C
"""
import argparse
import asyncio
import json
import resource
import sys
import time


def registrations(nodes, hot):
    for i in range(nodes):
        node = f"node-{i:05d}"
        address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        names = [
            "hot" if i < hot else f"alpha-{i % 10}",
            f"beta-{i % 20}",
            f"gamma-{i % 50}",
            f"delta-{i % 100}",
            f"epsilon-{i % 1000}",
        ]
        for k, name in enumerate(names, start=1):
            sid = f"{name}-{i:05d}"
            yield json.dumps({
                "Node": node,
                "Address": address,
                "NodeMeta": {"rack": f"rack-{i % 8}"},
                "Service": {
                    "ID": sid, "Service": name, "Tags": ["v1", f"rack-{i % 8}"],
                    "Address": address, "Port": 8000 + k, "Meta": {"version": f"1.{i % 7}"},
                },
                "Check": {
                    "CheckID": f"service:{sid}", "Name": f"{name} alive", "Status": "passing",
                    "ServiceID": sid, "Output": "ok",
                },
            }, separators=(",", ":")).encode()


async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def worker(host, port, queue, counts):
    reader, writer = await asyncio.open_connection(host, port)
    prefix = (f"PUT /v1/catalog/register HTTP/1.1\r\nHost: {host}\r\n"
              f"Content-Type: application/json\r\n").encode()
    while True:
        body = queue.pop() if queue else None
        if body is None:
            break
        writer.write(prefix + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        status, answer = await read_answer(reader)
        if status != 200 or answer.strip() != b"true":
            counts["errors"] += 1
            if counts["errors"] <= 3:
                print(f"register answered {status}: {answer[:200]!r}", file=sys.stderr)
        counts["done"] += 1
    writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.77")
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--nodes", type=int, default=10000)
    p.add_argument("--hot", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=32)
    a = p.parse_args()
    queue = list(registrations(a.nodes, a.hot))
    queue.reverse()  # pop() from the end: node order
    total = len(queue)
    counts = {"done": 0, "errors": 0}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    await asyncio.gather(*(worker(a.host, a.port, queue, counts) for _ in range(a.concurrency)))
    seconds = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"RESULT registrations={total} seconds={seconds:.2f} per_second={total / seconds:.0f} "
          f"errors={counts['errors']} client_cpu_s={cpu:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
