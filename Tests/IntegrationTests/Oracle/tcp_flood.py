"""Idle TCP connections to 127.0.0.1:PORT, held in this process (not the test runner's, whose
own process spawning must never see thousands of descriptors).

usage: tcp_flood.py PORT(ignored) TARGET_PORT COUNT STATUS_FILE [partial] 

Opens COUNT connections (sending nothing, or with "partial" half a request head that never
ends), then prints "ready PORT" and, twice a second, writes "opened N held H" to STATUS_FILE
(held: not closed by the server). Ends on SIGTERM/SIGKILL, or by itself after 180 s.
"""
import os
import resource
import select
import signal
import socket
import sys
import time

target, count, status_file = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
partial = len(sys.argv) > 5 and sys.argv[5] == "partial"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 64)), hard))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

sockets = []
for _ in range(count):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", target))
        if partial:
            s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        sockets.append(s)
    except OSError:
        s.close()


def held():
    # poll(2), not select(2): descriptors past 1,024 are the point here.
    poller = select.poll()
    for s in sockets:
        poller.register(s, select.POLLIN)
    readable = {fd for fd, _ in poller.poll(0)}
    alive = 0
    for s in sockets:
        if s.fileno() not in readable:
            alive += 1
            continue
        try:
            if s.recv(1, socket.MSG_PEEK):
                alive += 1
        except OSError:
            pass
    return alive


def write_status():
    tmp = status_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"opened {len(sockets)} held {held()}\n")
    os.replace(tmp, status_file)


write_status()
print(f"ready {sys.argv[1]}", flush=True)
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    time.sleep(0.5)
    write_status()
