"""A minimal Lambda Runtime API: starts a function binary RUNS times and
prints the median time, in ms, from process start to its first
GET /2018-06-01/runtime/invocation/next (the function is then ready for an
event). The function gets AWS-like configuration pointing at nothing: its
SDK clients are built at start-up, no AWS call is made before the poll.
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
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        HOOKLINE_TABLE="bench",
        HOOKLINE_QUEUE_URL="http://127.0.0.1:9/000000000000/bench",
        HOOKLINE_API_KEY_SHA256="0" * 64,
        RUST_LOG="error",
    )
    times = []
    for _ in range(runs):
        ready.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not ready.wait(10):
            proc.kill()
            sys.exit(f"{binary} never polled for an event")
        times.append((time.perf_counter() - start) * 1000)
        proc.kill()
        proc.wait()
    print(f"{statistics.median(times):.1f}")


main()
