#!/usr/bin/env python3
"""Transforms a SAM template into the plain CloudFormation that CloudFormation would deploy,
offline: no AWS credentials, no network, no AWS API call.

    .venv/bin/python deploy/transform.py template.yaml [--parameter KEY=VALUE ...] > out.json

This is the transform CloudFormation runs server-side for `Transform: AWS::Serverless-2016-10-31`
(the same `aws-sam-translator` that `sam validate` / `sam deploy` use, pinned in
requirements-dev.txt), so what crates/deploycheck asserts about its output is what a deployment
would create. What the service would take from the account is fixed here instead:

- region, account and partition (`--region`, `--account-id`; the partition follows the region);
- parameter values: the template's defaults, then `--parameter` overrides (as
  `sam deploy --parameter-overrides` would give them);
- managed policy names in `Policies`: resolved from the map bundled with samtranslator; a name
  it does not know would need IAM's ListPolicies, so it is refused with a message instead;
- local `CodeUri` / `DefinitionUri` / `ContentUri` paths: replaced by the S3 URIs that
  `sam package` would upload them to (a fixed bucket; the key is the path), as `sam validate`
  does, since the translator accepts only S3 locations.

The JSON goes to stdout, sorted, so two runs on the same input are byte-identical. Errors go to
stderr with exit status 1 (translation errors name the resource and property), 2 for usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import NoReturn

PLACEHOLDER_BUCKET = "deploycheck-offline-artifacts"

# Properties that name local files which `sam package` uploads before the transform runs.
LOCAL_ARTIFACTS = {
    "AWS::Serverless::Function": ["CodeUri"],
    "AWS::Serverless::StateMachine": ["DefinitionUri"],
    "AWS::Serverless::Api": ["DefinitionUri"],
    "AWS::Serverless::HttpApi": ["DefinitionUri"],
    "AWS::Serverless::LayerVersion": ["ContentUri"],
}


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"transform.py: {message}", file=sys.stderr)
    sys.exit(status)


try:
    # A venv without the translator is the common first-run failure: say how to get it.
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as e:
    fail(
        f"aws-sam-translator is not importable ({e}); run `just tools` "
        "(it installs requirements-dev.txt into .venv) and use .venv/bin/python"
    )


class OfflineManagedPolicies:
    """The translator's last resort for a managed policy name that its bundled map lacks is
    IAM's ListPolicies. Offline there is no IAM: say which name it was instead."""

    def load(self) -> dict[str, str]:
        fail(
            "a Policies entry names a managed policy that samtranslator's bundled map does not "
            "know; resolving it would need IAM ListPolicies, which this offline transform does "
            "not call. Use the policy's full ARN in template.yaml."
        )


def replace_local_artifacts(template: dict) -> None:
    def local_to_s3(value):
        if isinstance(value, str) and not value.startswith("s3://"):
            return f"s3://{PLACEHOLDER_BUCKET}/{value.strip('./') or 'root'}"
        return value

    globals_function = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = local_to_s3(globals_function["CodeUri"])
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict):
            continue
        properties = resource.get("Properties") or {}
        for prop in LOCAL_ARTIFACTS.get(resource.get("Type"), []):
            if prop in properties:
                properties[prop] = local_to_s3(properties[prop])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("template", help="path of the SAM template (YAML or JSON)")
    p.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter value overriding the template's default (repeatable)",
    )
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--account-id", default="123456789012")
    p.add_argument("--stack-name", default="url-shortener")
    return p.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    # The translator logs at WARNING for things that are not problems of the template (e.g. a
    # feature toggle it has no config for); its real errors are exceptions, reported below.
    logging.basicConfig(level=logging.ERROR)
    # samtranslator asks boto3 for the region (the partition of generated ARNs, e.g. the managed
    # policies'); pin it so neither the environment nor ~/.aws decides.
    os.environ["AWS_DEFAULT_REGION"] = args.region
    os.environ["AWS_REGION"] = args.region
    ArnGenerator.BOTO_SESSION_REGION_NAME = args.region

    try:
        with open(args.template, encoding="utf-8") as f:
            template = yaml_parse(f.read())
    except OSError as e:
        fail(f"cannot read {args.template}: {e}", 2)
    except Exception as e:  # yaml's errors carry the line and column
        fail(f"{args.template} is not valid YAML: {e}")
    if not isinstance(template, dict):
        fail(f"{args.template} is not a template (a mapping at the top)")

    declared = template.get("Parameters") or {}
    parameters: dict[str, str] = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--parameter {item!r} is not KEY=VALUE", 2)
        if key not in declared:
            fail(f"--parameter {key}: the template declares no such parameter", 2)
        parameters[key] = value
    # Defaults are added by the translator itself (SamParameterValues); pseudo parameters too,
    # but from boto3's session, so they are given here.
    parameters.update(
        {
            "AWS::Region": args.region,
            "AWS::AccountId": args.account_id,
            "AWS::Partition": ArnGenerator.get_partition_name(args.region),
            "AWS::StackName": args.stack_name,
            "AWS::StackId": (
                f"arn:{ArnGenerator.get_partition_name(args.region)}:cloudformation:"
                f"{args.region}:{args.account_id}:stack/{args.stack_name}/offline"
            ),
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
    )

    replace_local_artifacts(template)
    try:
        out = transform(template, parameters, OfflineManagedPolicies())
    except InvalidDocumentException as e:
        causes = "\n".join(f"  - {c.message}" for c in e.causes)
        fail(f"{args.template} does not transform:\n{causes}")
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
