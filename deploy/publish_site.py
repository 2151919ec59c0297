#!/usr/bin/env python3
"""Publish the dashboard to a deployed stack: `just publish-dashboard ENV` runs it.

    publish_site.py --config-env ENV              stack and region from samconfig.toml's ENV
    publish_site.py --stack NAME [--region R]     a stack by name
    publish_site.py ... --empty                   delete every object instead (before a destroy)
    publish_site.py ... --dry-run                 say what would change, change nothing

What to publish comes from template.yaml, as devstack reads it: the bucket resource with
`Metadata.Site` names its `Source` folder, the paths to `Exclude`, and the `Config` output that
becomes `config.json` next to the page. The script asks CloudFormation for that bucket's name
and that output's value in the deployed stack, then makes the bucket hold exactly the site:
changed files are uploaded (compared by MD5 with the object's ETag), files no longer in the
folder are deleted. Every object gets its content type and `Cache-Control: no-cache`, so
browsers and CloudFront revalidate (by ETag) instead of serving a stale page after a publish.
When something changed, the CloudFront distribution named by the `Distribution` output is
invalidated (`/*`). The `SiteUrl` output is printed.

Credentials and region as for any AWS tool (AWS_PROFILE, AWS_ACCESS_KEY_ID..., AWS_REGION);
`--endpoint-url` sends every call to one endpoint instead (tests use moto). Needs boto3 and
PyYAML, both in .venv-deploy (`just deploy-tools`). Exits 0 on success, 1 on a failure, 2 on bad
usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import sys
import time
import tomllib
from pathlib import Path, PurePosixPath

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent

# The same types devstack serves the site with (crates/devstack/src/site.rs).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}
CACHE_CONTROL = "no-cache"
# Stack states whose resources exist and are not being changed.
USABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}


class Failed(Exception):
    """What went wrong, in words."""


def say(msg: str) -> None:
    print(f"publish: {msg}", flush=True)


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...), kept as plain values: only the
    resources' Type and Metadata are read, and those hold no intrinsics."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _any_tag)


def declared_site(template: Path) -> dict:
    """The template's bucket with Metadata.Site: {id, source, exclude, config}."""
    doc = yaml.load(template.read_text(), Loader=CfnLoader)
    sites = [
        (rid, res["Metadata"]["Site"])
        for rid, res in (doc.get("Resources") or {}).items()
        if res.get("Type") == "AWS::S3::Bucket"
        and isinstance(res.get("Metadata"), dict)
        and isinstance(res["Metadata"].get("Site"), dict)
    ]
    if len(sites) != 1:
        names = ", ".join(rid for rid, _ in sites) or "none"
        raise Failed(f"{template} must declare one AWS::S3::Bucket with Metadata.Site (found: {names})")
    rid, site = sites[0]
    if not isinstance(site.get("Source"), str):
        raise Failed(f"{rid}: Metadata.Site.Source is missing")
    return {
        "id": rid,
        "source": (template.parent / site["Source"]).resolve(),
        "exclude": [PurePosixPath(e).parts for e in site.get("Exclude") or []],
        "config": site.get("Config"),
        "distribution": site.get("Distribution"),
    }


def site_files(source: Path, exclude: list[tuple[str, ...]]) -> dict[str, Path]:
    """Object key -> file, for every file under source that the site includes. Dot files are
    never part of it (as devstack never serves them)."""
    if not source.is_dir():
        raise Failed(f"the site folder {source} does not exist")
    files = {}
    for path in sorted(source.rglob("*")):
        rel = PurePosixPath(path.relative_to(source).as_posix())
        if any(part.startswith(".") for part in rel.parts):
            continue
        if any(rel.parts[: len(e)] == e for e in exclude if e):
            continue
        if path.is_file():
            files[str(rel)] = path
    return files


def content_type(key: str) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def stack_of(config_env: str) -> tuple[str, str | None]:
    """samconfig.toml's stack_name and region for ENV (global, then deploy parameters)."""
    conf = tomllib.loads((ROOT / "samconfig.toml").read_text())
    env = conf.get(config_env)
    if not env:
        raise Failed(f"samconfig.toml has no environment {config_env!r}")
    params = {**env.get("global", {}).get("parameters", {}), **env.get("deploy", {}).get("parameters", {})}
    if "stack_name" not in params:
        raise Failed(f"samconfig.toml's {config_env} has no stack_name")
    return params["stack_name"], params.get("region")


def publish(args) -> int:
    site = declared_site(args.template)
    session = boto3.session.Session(region_name=args.region)
    client = lambda service: session.client(service, endpoint_url=args.endpoint_url)  # noqa: E731
    cfn = client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
    except ClientError as e:
        raise Failed(f"stack {args.stack}: {e.response['Error'].get('Message', e)}") from e
    if stack["StackStatus"] not in USABLE:
        raise Failed(f"stack {args.stack} is {stack['StackStatus']}: its resources are not there to publish to")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    bucket = cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId=site["id"])[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    say(f"stack {args.stack}: {site['id']} is the bucket {bucket}")

    s3 = client("s3")
    existing = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            existing[obj["Key"]] = obj["ETag"].strip('"')

    wanted: dict[str, bytes] = {}
    if not args.empty:
        for key, path in site_files(site["source"], site["exclude"]).items():
            wanted[key] = path.read_bytes()
        if site["config"]:
            if site["config"] not in outputs:
                raise Failed(f"stack {args.stack} has no output {site['config']} (Metadata.Site.Config)")
            try:
                config = json.loads(outputs[site["config"]])
            except json.JSONDecodeError as e:
                raise Failed(f"the output {site['config']} is not JSON: {e}") from e
            if not isinstance(config, dict):
                raise Failed(f"the output {site['config']} is not a JSON object")
            if "config.json" in wanted:
                raise Failed(f"{site['source']}/config.json would be overwritten by the output {site['config']}")
            wanted["config.json"] = (json.dumps(config, indent=2) + "\n").encode()

    changed = 0
    for key, body in wanted.items():
        if existing.get(key) == hashlib.md5(body).hexdigest():
            say(f"unchanged {key}")
            continue
        say(f"{'would upload' if args.dry_run else 'upload'} {key} ({content_type(key)}, {len(body)} bytes)")
        changed += 1
        if not args.dry_run:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type(key),
                CacheControl=CACHE_CONTROL,
            )
    stale = sorted(set(existing) - set(wanted))
    for i in range(0, len(stale), 1000):
        batch = stale[i : i + 1000]
        for key in batch:
            say(f"{'would delete' if args.dry_run else 'delete'} {key}")
        changed += len(batch)
        if not args.dry_run:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})

    if changed and not args.dry_run and site["distribution"]:
        dist = outputs.get(site["distribution"])
        if not dist:
            raise Failed(f"stack {args.stack} has no output {site['distribution']} (Metadata.Site.Distribution)")
        inv = client("cloudfront").create_invalidation(
            DistributionId=dist,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"publish-{time.time_ns()}"},
        )
        say(f"invalidated /* on the distribution {dist} ({inv['Invalidation']['Id']})")
    verb = "would change" if args.dry_run else "changed"
    say(f"{verb} {changed} object(s); {len(wanted)} in the site")
    if "SiteUrl" in outputs and not args.empty:
        say(f"the dashboard: {outputs['SiteUrl']}")
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--config-env", help="samconfig.toml environment (staging, prod)")
    which.add_argument("--stack", help="CloudFormation stack name")
    p.add_argument("--region", help="default: samconfig.toml's, else AWS_REGION / the profile's")
    p.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    p.add_argument("--endpoint-url", help="send every AWS call here (moto in tests)")
    p.add_argument("--empty", action="store_true", help="delete every object of the site's bucket")
    p.add_argument("--dry-run", action="store_true", help="change nothing; say what would change")
    args = p.parse_args(argv)
    try:
        if args.config_env:
            args.stack, region = stack_of(args.config_env)
            args.region = args.region or region
        return publish(args)
    except Failed as e:
        print(f"publish: {e}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as e:
        print(f"publish: AWS: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
