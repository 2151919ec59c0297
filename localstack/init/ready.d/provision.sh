#!/bin/bash
# LocalStack runs this once its services answer (a ready.d hook). It creates the template's
# tables and queues in LocalStack through devstack's own provisioning: the template stays the only
# wiring, so no table or queue is named here. The stack name gives the physical names that
# `devstack up --stack-name url-shortener` (`just up-docker`) uses.
set -euo pipefail

# docker-compose.yml sets these to paths under its mount of the repository.
devstack="${DEVSTACK_BIN:-/opt/url-shortener/target/release/devstack}"
template="${DEVSTACK_TEMPLATE:-/opt/url-shortener/template.yaml}"

# No build yet, or a host binary this container cannot run (macOS, another architecture, a newer
# glibc): not a failure, since `devstack up --dynamodb-endpoint/--sqs-endpoint` provisions the same
# tables and queues on start. Failing here would only mark LocalStack's init as failed.
if ! "$devstack" --version >/dev/null 2>&1; then
    echo "provision.sh: no devstack this container can run at $devstack; skipped: devstack up provisions the tables and queues on start anyway"
    exit 0
fi

# Inside the container LocalStack listens on 4566 (the host sees it on 4567).
"$devstack" provision --template "$template" --stack-name url-shortener \
    --dynamodb-endpoint http://localhost:4566 --sqs-endpoint http://localhost:4566
