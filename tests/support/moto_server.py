"""moto's server for the tests, with DynamoDB's requests taken one at a time.

moto evaluates a write's condition and applies the write without holding a
lock, so two concurrent conditional writes (or transactions) on one item can
both succeed on moto, which DynamoDB never allows. Serialising moto's DynamoDB
requests gives the tests the atomicity DynamoDB guarantees; SQS requests (long
polls among them) stay concurrent.

Usage: python moto_server.py PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()
_app = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with _dynamodb:
            # The whole answer is made under the lock, not only its start.
            return list(_app(environ, start_response))
    return _app(environ, start_response)


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
