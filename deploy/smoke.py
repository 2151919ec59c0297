#!/usr/bin/env python3
"""Smoke test of a running URL shortener: one real Cognito user creates, resolves and deletes a
link through the HTTP API, and the user is deleted again.

    smoke.py URL                       against devstack (pool and client from its edge)
    smoke.py URL --stack NAME          against a deployed stack (pool and client from its outputs)

URL is the HTTP API (devstack: http://127.0.0.1:3000; AWS: the stack's ApiUrl output). Cognito
is called through the AWS CLI (`--aws`, default `aws`), which signs the admin calls: against a
stack it uses the caller's credentials and region (AWS_PROFILE / AWS_ACCESS_KEY_ID..., AWS_REGION);
against devstack it gets dummy credentials and the edge as its endpoint.

Steps: SignUp, AdminConfirmSignUp, InitiateAuth (USER_PASSWORD_AUTH), POST /links, GET
/links/{code} until moderation made it active, GET /{code} (a redirect to the target), DELETE
/links/{code}, GET /{code} until 404, then AdminDeleteUser, which also runs when a step failed
(as does the DELETE of a link that was created). Python standard library only. Exits 0 when
every step passed, 1 when one failed, 2 on bad usage.

The user is `success+smoke-<id>@simulator.amazonses.com`: Cognito emails a confirmation code on
SignUp, and Amazon SES's mailbox simulator accepts that address without a real mailbox or a
bounce. `--email-domain` changes the domain.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

HTTP_TIMEOUT = 30


class Failed(Exception):
    """A step failed; the message says which and why."""


def say(msg: str) -> None:
    print(f"smoke: {msg}", flush=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """The redirect is what is checked: it must not be followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: N802 (stdlib API)
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(method: str, url: str, token: str | None = None, body: dict | None = None):
    """One request; returns (status, headers, parsed JSON body or text). Never raises on a status."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(req, timeout=HTTP_TIMEOUT) as resp:
            status, headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise Failed(f"{method} {url}: {e}") from e
    text = raw.decode(errors="replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, headers, parsed


class Aws:
    """The AWS CLI, JSON in and out."""

    def __init__(self, exe: str, region: str | None, endpoint: str | None, env: dict):
        self.exe, self.region, self.endpoint, self.env = exe, region, endpoint, env

    def __call__(self, service: str, op: str, payload: dict | None = None, *args: str) -> dict:
        cmd = [self.exe, service, op, "--output", "json"]
        if self.region:
            cmd += ["--region", self.region]
        if self.endpoint:
            cmd += ["--endpoint-url", self.endpoint]
        if payload is not None:
            cmd += ["--cli-input-json", json.dumps(payload)]
        cmd += list(args)
        try:
            out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Failed(f"aws {service} {op}: {e}") from e
        if out.returncode != 0:
            raise Failed(f"aws {service} {op}: {out.stderr.strip() or out.stdout.strip()}")
        return json.loads(out.stdout) if out.stdout.strip() else {}


def from_devstack(edge: str) -> tuple[str, str, str]:
    """(region, pool id, client id) of the stack a running devstack serves."""
    status, _, stack = http("GET", f"{edge}/_devstack/stack")
    if status != 200 or not isinstance(stack, dict):
        raise Failed(f"GET {edge}/_devstack/stack answered {status}: is devstack running?")
    outputs = stack.get("outputs", {})
    pool = outputs.get("UserPoolId") or next((p.get("id") for p in stack.get("user_pools", [])), None)
    client = outputs.get("UserPoolClientId")
    if not pool or not client:
        raise Failed(f"devstack's stack has no UserPoolId / UserPoolClientId output: {outputs}")
    return stack.get("region") or "us-east-1", pool, client


def from_stack(aws: Aws, name: str) -> tuple[str, str, str | None]:
    """(pool id, client id, ApiUrl) from a deployed stack's outputs."""
    stacks = aws("cloudformation", "describe-stacks", None, "--stack-name", name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    for key in ("UserPoolId", "UserPoolClientId"):
        if key not in outputs:
            raise Failed(f"stack {name} has no {key} output (outputs: {sorted(outputs)})")
    return outputs["UserPoolId"], outputs["UserPoolClientId"], outputs.get("ApiUrl")


def wait_for(what: str, deadline_s: float, probe):
    """Calls probe() every second until it returns something other than None, or fails."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        result, last = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {deadline_s:.0f} s (last answer: {last})")
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="the HTTP API, e.g. http://127.0.0.1:3000 or the stack's ApiUrl")
    ap.add_argument("--stack", help="a deployed stack: pool and client from its outputs")
    ap.add_argument("--region", help="the stack's region (default: AWS_REGION, AWS_DEFAULT_REGION)")
    ap.add_argument("--edge", default="http://127.0.0.1:4566", help="devstack's edge (without --stack)")
    ap.add_argument("--aws", default="aws", help="the AWS CLI to call Cognito with")
    ap.add_argument("--timeout", type=float, default=90, help="seconds to wait for moderation")
    ap.add_argument("--email-domain", default="simulator.amazonses.com")
    args = ap.parse_args()
    api = args.url.rstrip("/")
    if not api.startswith(("http://", "https://")):
        ap.error(f"URL must be http(s)://..., got {args.url!r}")

    env = dict(os.environ)
    try:
        if args.stack:
            # As `just deploy`: the instance metadata endpoint only when asked for.
            env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
            # AWS CLI v1 reads AWS_DEFAULT_REGION only; the recipes speak of AWS_REGION.
            region = args.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            aws = Aws(args.aws, region, None, env)
            say(f"stack {args.stack}: reading its outputs")
            pool, client, api_url = from_stack(aws, args.stack)
            if api_url and api_url.rstrip("/") != api:
                say(f"note: {api} is not the stack's ApiUrl ({api_url})")
        else:
            edge = args.edge.rstrip("/")
            say(f"devstack at {edge}: reading its stack")
            region, pool, client = from_devstack(edge)
            # devstack checks no signature; real credentials are not sent to it.
            for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
                env.pop(k, None)
            env.update(AWS_ACCESS_KEY_ID="devstack", AWS_SECRET_ACCESS_KEY="devstack")
            aws = Aws(args.aws, args.region or region, edge, env)
    except Failed as e:
        print(f"smoke: FAILED finding the user pool: {e}", file=sys.stderr, flush=True)
        return 1
    say(f"user pool {pool}, app client {client}, API {api}")

    run = secrets.token_hex(6)
    email = f"success+smoke-{run}@{args.email_domain}"
    password = "Sm0ke-" + secrets.token_urlsafe(18)
    target = f"https://example.com/smoke/{run}"
    signed_up = False
    code = None
    token = None
    step = "start"
    failed = True
    try:
        step = "SignUp"
        say(f"1/8 sign up {email}")
        aws("cognito-idp", "sign-up", {
            "ClientId": client,
            "Username": email,
            "Password": password,
            "UserAttributes": [{"Name": "email", "Value": email}],
        })
        signed_up = True

        step = "AdminConfirmSignUp"
        say("2/8 confirm the user (AdminConfirmSignUp)")
        aws("cognito-idp", "admin-confirm-sign-up", {"UserPoolId": pool, "Username": email})

        step = "InitiateAuth"
        say("3/8 log in (InitiateAuth USER_PASSWORD_AUTH)")
        auth = aws("cognito-idp", "initiate-auth", {
            "ClientId": client,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": email, "PASSWORD": password},
        })
        token = (auth.get("AuthenticationResult") or {}).get("IdToken")
        if not token:
            raise Failed(f"no IdToken in the InitiateAuth answer (challenge {auth.get('ChallengeName')})")

        step = "POST /links"
        say(f"4/8 POST /links {target}")
        status, _, body = http("POST", f"{api}/links", token, {"url": target})
        if status != 201 or not isinstance(body, dict) or not body.get("code"):
            raise Failed(f"POST /links answered {status}: {body}")
        code = body["code"]
        say(f"    created {code} ({body.get('shortUrl')}), status {body.get('status')}")

        step = "moderation"
        say(f"5/8 GET /links/{code} until moderation made it active (at most {args.timeout:.0f} s)")

        def active():
            status, _, body = http("GET", f"{api}/links/{code}", token)
            if status != 200 or not isinstance(body, dict):
                raise Failed(f"GET /links/{code} answered {status}: {body}")
            if body.get("status") == "active":
                return body, body
            if body.get("status") not in ("pending",):
                raise Failed(f"moderation made the link {body.get('status')}, not active: {body}")
            return None, f"status {body.get('status')}"

        wait_for(f"link {code} active", args.timeout, active)

        step = "GET /{code}"
        say(f"6/8 GET /{code}: a redirect to {target}")
        status, headers, body = http("GET", f"{api}/{code}")
        location = headers.get("Location") if headers else None
        if status not in (301, 302, 307, 308) or location != target:
            raise Failed(f"GET /{code} answered {status} Location {location!r}, expected a redirect to {target}: {body}")
        say(f"    {status} Location: {location}")

        step = "DELETE /links/{code}"
        say(f"7/8 DELETE /links/{code}")
        status, _, body = http("DELETE", f"{api}/links/{code}", token)
        if status != 200:
            raise Failed(f"DELETE /links/{code} answered {status}: {body}")
        code_deleted, code = code, None

        step = "GET /{code} after delete"
        say(f"8/8 GET /{code_deleted} until it is gone (404)")

        def gone():
            status, _, body = http("GET", f"{api}/{code_deleted}")
            return (True, None) if status == 404 else (None, f"{status} {body}")

        wait_for(f"link {code_deleted} gone", 30, gone)
    except Failed as e:
        print(f"smoke: FAILED at {step}: {e}", file=sys.stderr, flush=True)
        failed = True
    else:
        failed = False
    finally:
        # Cleanup runs whatever happened: the link (if still there), then the user.
        if code and token:
            try:
                status, _, body = http("DELETE", f"{api}/links/{code}", token)
                say(f"cleanup: DELETE /links/{code} answered {status}")
            except Failed as e:
                print(f"smoke: cleanup: {e}", file=sys.stderr, flush=True)
        if signed_up:
            try:
                aws("cognito-idp", "admin-delete-user", {"UserPoolId": pool, "Username": email})
                say(f"cleanup: deleted the user {email}")
            except Failed as e:
                print(f"smoke: FAILED cleanup (AdminDeleteUser): {e}", file=sys.stderr, flush=True)
                failed = True
    if failed:
        print("smoke: FAILED", file=sys.stderr, flush=True)
        return 1
    say("passed: sign up, log in, create, moderate, resolve, delete, clean up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
