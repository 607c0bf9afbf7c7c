"""Gives each Lambda function of template.yaml an IAM user on a moto server
whose policy is exactly that function's `Policies` statements in the
template, and each managed policy of the template (a producer's) a user of
its own with exactly its statements, the table's and queues' ARNs filled
in, and the test an administrator (TestAdministrator) for its plumbing;
then turns moto's IAM enforcement on. Prints
{"IngestFunction": {"key": ..., "secret": ...}, ...}.

Usage: python function_roles.py ENDPOINT TEMPLATE NAME=ARN...
  (NAME as the template's !GetAtt says it: Table.Arn, DeliveryQueue.Arn, ...)
"""

import json
import sys
import urllib.request

import boto3
import yaml


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as their
    long forms."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def resolve(value, arns):
    """An intrinsic of the template's statements, as the ARN it names."""
    if isinstance(value, list):
        return [resolve(v, arns) for v in value]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return arns[".".join(value["Fn::GetAtt"])]
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for name, arn in arns.items():
            text = text.replace("${" + name + "}", arn)
        if "${" in text:
            raise SystemExit(f"cannot resolve {value}")
        return text
    if isinstance(value, dict):
        raise SystemExit(f"cannot resolve {value}")
    return value


def main():
    endpoint, template = sys.argv[1:3]
    arns = dict(arg.split("=", 1) for arg in sys.argv[3:])
    with open(template) as f:
        resources = yaml.load(f, Loader=_Loader)["Resources"]
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    out = {}
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            policies = resource["Properties"].get("Policies", [])
        elif resource.get("Type") == "AWS::IAM::ManagedPolicy":
            policies = [resource["Properties"]["PolicyDocument"]]
        else:
            continue
        statements = []
        for policy in policies:
            for statement in policy["Statement"]:
                statement = dict(statement)
                statement["Resource"] = resolve(statement["Resource"], arns)
                statements.append(statement)
        iam.create_user(UserName=name)
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        iam.put_user_policy(UserName=name, PolicyName="template", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        out[name] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"], "statements": statements}
    # The test's own plumbing (putting a message where only AWS puts one)
    # runs as an administrator, named so that no function is mistaken for it.
    iam.create_user(UserName="TestAdministrator")
    admin = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [admin]})
    iam.put_user_policy(UserName="TestAdministrator", PolicyName="all", PolicyDocument=document)
    key = iam.create_access_key(UserName="TestAdministrator")["AccessKey"]
    out["TestAdministrator"] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"], "statements": [admin]}
    # From here on, moto authorises every request against its caller's policy.
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request).read()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
