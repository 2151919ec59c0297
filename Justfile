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

# Run every test (the AWS CLI and cargo-lambda tests use the tools in .venv).
test: tools
    cargo test --workspace

# The e2e scenarios: the whole product driven from outside, transcripts snapshot-tested
# (embedded backend). A changed snapshot fails with INSTA_UPDATE=no, as in CI.
e2e *FLAGS:
    cargo test -p e2e {{FLAGS}}

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

# What CI runs: lint, tests, release build.
ci: lint test build

# Benchmark devstack vs the HTTP floor and cargo lambda watch (report: target/bench/report.md).
bench *FLAGS: tools
    cargo build --release -p devstack -p fixtures -p functions -p bench
    target/release/bench {{FLAGS}}
