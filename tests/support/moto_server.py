"""moto's server for the tests, closer to AWS in two ways.

- DynamoDB's requests are taken one at a time. moto evaluates a write's
  condition and applies the write without holding a lock, so two concurrent
  conditional writes (or transactions) on one item can both succeed on moto,
  which DynamoDB never allows. SQS requests (long polls among them) stay
  concurrent.
- With IAM enforced (POST /moto-api/reset-auth), moto authorises a DynamoDB
  action against the resource "*" only, so a policy naming a table or an
  index (as template.yaml's do) would never match. Here a DynamoDB request
  names its table, or its table's index, as AWS does.
- AWS authorises TransactWriteItems by its parts (each Put as
  dynamodb:PutItem, Update as UpdateItem, Delete as DeleteItem,
  ConditionCheck as ConditionCheckItem, on its table); moto asks for a
  dynamodb:TransactWriteItems action no policy can grant. Here each part is
  authorised as AWS does. Likewise AWS authorises SQS's batch calls as their
  single forms (SendMessageBatch as sqs:SendMessage, DeleteMessageBatch as
  sqs:DeleteMessage, ChangeMessageVisibilityBatch as
  sqs:ChangeMessageVisibility); here too.
- A TransactWriteItems that fails its conditions writes nothing, on AWS and
  on moto — but moto undoes it by putting back a copy of the whole table,
  stream and all, so every reader of the table's stream is left on a stream
  nothing is written to any more (a failed transaction stops the outbox for
  good). Here the table's own stream is kept, less what the failed
  transaction wrote to it.

Usage: python moto_server.py PORT
"""

import json
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.responses import SQSResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def _body(handler):
    body = handler.body
    if isinstance(body, dict):
        return body
    try:
        return json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}


def _table_arn(handler, table):
    return f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"


def _dynamodb_resource(self):
    """The ARN a DynamoDB request acts on: its table, or the table's index."""
    body = _body(self)
    table = body.get("TableName")
    if table is None and body.get("RequestItems"):
        table = next(iter(body["RequestItems"]))
    if table is None and body.get("TransactItems"):
        table = next(iter(body["TransactItems"][0].values())).get("TableName")
    if not table:
        return "*"
    arn = _table_arn(self, table)
    if body.get("IndexName"):
        arn += f"/index/{body['IndexName']}"
    return arn


_PART_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_authorize = DynamoHandler._authenticate_and_authorize_normal_action
_action = DynamoHandler._get_action


def _authorize_by_parts(self, resource="*"):
    if _action(self) != "TransactWriteItems":
        return _authorize(self, resource)
    for part in _body(self).get("TransactItems", []):
        for kind, spec in part.items():
            self._part_action = _PART_ACTIONS.get(kind, kind)
            try:
                _authorize(self, _table_arn(self, spec.get("TableName", "*")))
            finally:
                del self._part_action


_SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_sqs_authorize = SQSResponse._authenticate_and_authorize_normal_action
_sqs_action = SQSResponse._get_action


def _authorize_batch_as_single(self, resource="*"):
    self._part_action = _SQS_BATCHES.get(_sqs_action(self))
    try:
        return _sqs_authorize(self, resource)
    finally:
        del self._part_action


SQSResponse._authenticate_and_authorize_normal_action = _authorize_batch_as_single
SQSResponse._get_action = lambda self: getattr(self, "_part_action", None) or _sqs_action(self)

_transact = DynamoDBBackend.transact_write_items


def _transact_keeping_streams(self, transact_items):
    shards = {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in self.tables.items()
        if table.stream_shard is not None
    }
    try:
        return _transact(self, transact_items)
    except Exception:
        for name, (shard, written) in shards.items():
            table = self.tables.get(name)
            if table is not None and table.stream_shard is not shard:
                del shard.items[written:]
                shard.table = table
                table.stream_shard = shard
        raise


DynamoDBBackend.transact_write_items = _transact_keeping_streams
DynamoHandler._determine_resource = _dynamodb_resource
DynamoHandler._authenticate_and_authorize_normal_action = _authorize_by_parts
DynamoHandler._get_action = lambda self: getattr(self, "_part_action", None) or _action(self)

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
