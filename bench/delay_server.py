"""A test server that answers in a precise time: one thread per connection, time.sleep.

    python bench/delay_server.py --port 0 --delay-ms 10

asyncio servers wake on 1 ms timer ticks, which blurs a 10 ms answer into 10–11 ms; a thread
sleeping in the kernel overshoots by tens of microseconds. It prints ``PORT <n>`` when ready.
``POST /_stall?ms=500`` makes every request arriving in the next 500 ms wait until that window
ends (a server hiccup). It speaks just enough HTTP/1.1 for load generators: keep-alive,
Content-Length bodies.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: text/csv\r\n\r\nsetosa\n"
STALLED = {"until": 0.0}


def _handle(conn: socket.socket, delay: float) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            arrived = time.perf_counter()
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                rest += chunk
            buffer = rest[length:]
            request_line = head.split(b"\r\n", 1)[0]
            if request_line.startswith(b"POST /_stall"):
                ms = float(request_line.split(b"ms=")[1].split(b" ")[0])
                STALLED["until"] = time.perf_counter() + ms / 1000
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                continue
            wait_until = max(arrived + delay, STALLED["until"] + delay
                             if arrived < STALLED["until"] else 0.0)
            remaining = wait_until - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)
            conn.sendall(RESPONSE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    args = parser.parse_args()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(1024)
    print(f"PORT {server.getsockname()[1]}", flush=True)
    sys.setswitchinterval(0.0005)  # hand the GIL over promptly to the thread whose sleep ended
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_handle, args=(conn, args.delay_ms / 1000), daemon=True).start()


if __name__ == "__main__":
    main()
