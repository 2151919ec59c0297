"""publish_site.py against moto (MOTO_URL), run by e2e/tests/publish.rs (`cargo test --test
publish`). moto's CloudFormation cannot create a CloudFront distribution, so each stack here is
the bucket alone, with the distribution (made through moto's CloudFront API) as a literal
output: what publish_site.py reads is the template's Site metadata and the stack's outputs and
bucket, which these stacks have as a deployed one does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "publish_site.py"
MOTO = os.environ.get("MOTO_URL", "")
REGION = "us-east-1"
CONFIG = {"apiUrl": "https://abc.execute-api.us-east-1.amazonaws.com", "userPoolClientId": "client"}


def client(service):
    return boto3.client(service, endpoint_url=MOTO, region_name=REGION)


def make_distribution() -> str:
    d = client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": uuid.uuid4().hex,
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [{"Id": "site", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "MinTTL": 0,
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )
    return d["Distribution"]["Id"]


def make_stack(distribution: str, outputs: dict | None = None) -> tuple[str, str]:
    """A stack whose SiteBucket and outputs stand for a deployed one: (stack name, bucket)."""
    name = f"site-{uuid.uuid4().hex[:8]}"
    outs = outputs if outputs is not None else {
        "SiteConfig": json.dumps(CONFIG),
        "SiteUrl": "https://d111111abcdef8.cloudfront.net/",
        "SiteDistributionId": distribution,
    }
    body = {
        "Resources": {"SiteBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {k: {"Value": v} for k, v in outs.items()},
    }
    cfn = client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body))
    bucket = cfn.describe_stack_resource(StackName=name, LogicalResourceId="SiteBucket")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    return name, bucket


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--endpoint-url", MOTO, "--region", REGION, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def objects(bucket: str) -> dict[str, dict]:
    s3 = client("s3")
    out = {}
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        head = s3.get_object(Bucket=bucket, Key=obj["Key"])
        out[obj["Key"]] = {
            "type": head["ContentType"],
            "cache": head.get("CacheControl"),
            "body": head["Body"].read(),
        }
    return out


def invalidations(distribution: str) -> int:
    listed = client("cloudfront").list_invalidations(DistributionId=distribution)["InvalidationList"]
    return listed["Quantity"]


class PublishSite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MOTO:
            raise unittest.SkipTest("MOTO_URL is not set (e2e/tests/publish.rs sets it)")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="publish-site-"))
        self.addCleanup(shutil.rmtree, self.tmp)

    def template_with_source(self, source: Path) -> Path:
        """template.yaml itself, but its SiteBucket holds `source`."""
        text = (ROOT / "template.yaml").read_text()
        self.assertIn("        Source: dashboard/\n", text)
        path = self.tmp / "template.yaml"
        path.write_text(text.replace("        Source: dashboard/\n", f"        Source: {source}/\n"))
        return path

    def test_the_repository_dashboard_is_published_exactly(self):
        dist = make_distribution()
        stack, bucket = make_stack(dist)
        client("s3").put_object(Bucket=bucket, Key="old/app.js", Body=b"stale")

        run = publish("--stack", stack)
        self.assertEqual(run.returncode, 0, run.stderr + run.stdout)
        got = objects(bucket)
        site = ROOT / "dashboard"
        # Every file of dashboard/ but its tests (Exclude), plus config.json; the stale object gone.
        self.assertEqual(sorted(got), ["app.js", "config.json", "index.html", "style.css"])
        for key in ["app.js", "index.html", "style.css"]:
            self.assertEqual(got[key]["body"], (site / key).read_bytes(), key)
        self.assertEqual(got["index.html"]["type"], "text/html; charset=utf-8")
        self.assertEqual(got["app.js"]["type"], "text/javascript; charset=utf-8")
        self.assertEqual(got["style.css"]["type"], "text/css; charset=utf-8")
        self.assertEqual(got["config.json"]["type"], "application/json")
        self.assertTrue(all(o["cache"] == "no-cache" for o in got.values()), got)
        self.assertEqual(json.loads(got["config.json"]["body"]), CONFIG)
        self.assertEqual(invalidations(dist), 1)
        self.assertIn("delete old/app.js", run.stdout)
        self.assertIn("the dashboard: https://d111111abcdef8.cloudfront.net/", run.stdout)

        # Again: nothing to upload, nothing to invalidate.
        again = publish("--stack", stack)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("changed 0 object(s); 4 in the site", again.stdout)
        self.assertEqual(invalidations(dist), 1)

    def test_changes_dry_run_and_empty(self):
        source = self.tmp / "site"
        (source / "img").mkdir(parents=True)
        (source / "index.html").write_text("<!doctype html><title>v1</title>")
        (source / "img" / "logo.svg").write_text("<svg/>")
        (source / ".DS_Store").write_text("never published")
        template = self.template_with_source(source)
        dist = make_distribution()
        stack, bucket = make_stack(dist)

        self.assertEqual(publish("--stack", stack, "--template", str(template)).returncode, 0)
        self.assertEqual(sorted(objects(bucket)), ["config.json", "img/logo.svg", "index.html"])
        self.assertEqual(objects(bucket)["img/logo.svg"]["type"], "image/svg+xml")

        # One file changed, one removed: only those are touched.
        (source / "index.html").write_text("<!doctype html><title>v2</title>")
        (source / "img" / "logo.svg").unlink()
        dry = publish("--stack", stack, "--template", str(template), "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("would upload index.html", dry.stdout)
        self.assertIn("would delete img/logo.svg", dry.stdout)
        self.assertIn("unchanged config.json", dry.stdout)
        self.assertEqual(objects(bucket)["index.html"]["body"], b"<!doctype html><title>v1</title>")
        self.assertEqual(invalidations(dist), 1)

        run = publish("--stack", stack, "--template", str(template))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("changed 2 object(s); 2 in the site", run.stdout)
        got = objects(bucket)
        self.assertEqual(sorted(got), ["config.json", "index.html"])
        self.assertEqual(got["index.html"]["body"], b"<!doctype html><title>v2</title>")
        self.assertEqual(invalidations(dist), 2)

        # Before a destroy: the bucket emptied, so CloudFormation can delete it.
        empty = publish("--stack", stack, "--template", str(template), "--empty")
        self.assertEqual(empty.returncode, 0, empty.stderr)
        self.assertEqual(objects(bucket), {})

    def test_errors_say_what_is_wrong(self):
        run = publish("--stack", "no-such-stack")
        self.assertEqual(run.returncode, 1)
        self.assertIn("publish: stack no-such-stack:", run.stderr)

        stack, _ = make_stack(make_distribution(), outputs={"SiteUrl": "https://x/"})
        run = publish("--stack", stack)
        self.assertEqual(run.returncode, 1)
        self.assertIn(f"stack {stack} has no output SiteConfig (Metadata.Site.Config)", run.stderr)

        stack, _ = make_stack(make_distribution(), outputs={"SiteConfig": "[1, 2]"})
        run = publish("--stack", stack)
        self.assertEqual(run.returncode, 1)
        self.assertIn("the output SiteConfig is not a JSON object", run.stderr)

        # A config.json in the folder would be overwritten by the output: refused.
        source = self.tmp / "site"
        source.mkdir()
        (source / "config.json").write_text("{}")
        stack, _ = make_stack(make_distribution())
        run = publish("--stack", stack, "--template", str(self.template_with_source(source)))
        self.assertEqual(run.returncode, 1)
        self.assertIn("would be overwritten by the output SiteConfig", run.stderr)

        run = publish("--config-env", "nope")
        self.assertEqual(run.returncode, 1)
        self.assertIn("samconfig.toml has no environment 'nope'", run.stderr)


if __name__ == "__main__":
    unittest.main()
