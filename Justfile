# Recipes for the URL shortener and (from issue 3 on) devstack.
# Install just with `cargo install just` or `pip install rust-just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"

# List the recipes.
default:
    @just --list

# Bring up the product on devstack, with a demo user and link; extra flags go to `devstack up`.
up *FLAGS:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p devstack
    target/release/devstack up --template template.yaml --stack-name url-shortener {{FLAGS}} &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null || true; wait $pid' INT TERM EXIT
    target/release/devstack demo || true
    wait $pid

# `up` with the tables on DynamoDB Local and the queues on LocalStack (localstack/README.md).
up-docker *FLAGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! docker compose version >/dev/null 2>&1; then
        echo "up-docker needs docker with its compose plugin; 'just up' runs the same product without them" >&2
        exit 1
    fi
    # Built first: LocalStack's init hook runs this binary through the repository mount.
    cargo build --release -p devstack
    # Down on any exit, a failed --wait included, so no container outlives the recipe.
    trap 'docker compose down' EXIT
    docker compose up -d --wait
    target/release/devstack up --template template.yaml --stack-name url-shortener --dynamodb-endpoint http://127.0.0.1:8000 --sqs-endpoint http://127.0.0.1:4567 {{FLAGS}} &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null || true; wait $pid || true; docker compose down' EXIT
    # Background jobs of a script ignore Ctrl-C, so the EXIT trap stops devstack.
    trap 'exit 130' INT TERM
    target/release/devstack demo || true
    wait $pid

# Run every test (the AWS CLI and cargo-lambda tests use the tools in .venv).
test: tools
    cargo test --workspace

# The e2e scenarios: the whole product driven from outside, transcripts snapshot-tested, on
# the embedded backend and then on moto (a fresh moto server per scenario). A changed snapshot
# fails with INSTA_UPDATE=no, as in CI. `just e2e-on moto` runs one backend.
e2e *FLAGS: tools
    just e2e-on embedded {{FLAGS}}
    just e2e-on moto {{FLAGS}}

# The e2e scenarios on one backend: embedded, moto, or external (E2E_DYNAMODB_ENDPOINT and
# E2E_SQS_ENDPOINT name the services; e2e/README.md).
e2e-on BACKEND *FLAGS: tools
    E2E_BACKEND={{BACKEND}} cargo test -p e2e {{FLAGS}}

# Format check, clippy with warnings as errors, and cfn-lint on the template.
lint: tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    {{venv}}/bin/cfn-lint template.yaml

# Build every function binary in release mode.
build:
    cargo build --release --workspace

# Python tools (cfn-lint, the AWS CLI, cargo-lambda, just itself) into ./.venv.
tools:
    @test {{venv}}/.installed -nt requirements-dev.txt || (python3 -m venv {{venv}} && {{venv}}/bin/pip install -q -r requirements-dev.txt && touch {{venv}}/.installed)

# What CI runs: lint, tests, the e2e scenarios on both backends, release build.
ci: lint test e2e build

# Benchmark devstack vs the HTTP floor and cargo lambda watch (report: target/bench/report.md).
bench *FLAGS: tools
    cargo build --release -p devstack -p fixtures -p functions -p bench
    target/release/bench {{FLAGS}}
