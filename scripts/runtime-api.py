"""A minimal Lambda Runtime API: starts a function binary RUNS times and
prints the median time, in ms, from process start to its first
GET /2018-06-01/runtime/invocation/next (the function is then ready for an
event). Its initialisation includes building the AWS SDK clients and
warming them up with one call each, so the AWS variables (AWS_ENDPOINT_URL,
HOOKLINE_TABLE, HOOKLINE_QUEUE_URL, …) must point at a running emulator
with the table and queue created (scripts/bench-lambda does this). A start
whose warm-up failed is reported and fails the measurement.
Usage: runtime-api.py BINARY RUNS"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

ready = threading.Event()


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            ready.set()
            time.sleep(0.2)  # hold the poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    binary, runs = sys.argv[1], int(sys.argv[2])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for var in ("AWS_ENDPOINT_URL", "HOOKLINE_TABLE", "HOOKLINE_QUEUE_URL"):
        if var not in os.environ:
            sys.exit(f"{var} is not set: run scripts/bench-lambda")
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        RUST_LOG="warn",
    )
    times = []
    for _ in range(runs):
        ready.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not ready.wait(10):
            proc.kill()
            sys.exit(f"{binary} never polled for an event")
        times.append((time.perf_counter() - start) * 1000)
        proc.kill()
        log = proc.communicate()[0].decode(errors="replace")
        if "warming up" in log:
            sys.exit(f"{binary} could not warm up its clients:\n{log}")
    print(f"{statistics.median(times):.1f}")


main()
