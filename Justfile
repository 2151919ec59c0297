# Recipes for the URL shortener and (from issue 3 on) devstack.
# Install just with `cargo install just` or `pip install rust-just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"

# List the recipes.
default:
    @just --list

# Bring up the local stack (devstack) with the product.
up:
    @echo "devstack arrives in the next issue (#3): it will run these functions from template.yaml."
    @echo "Until then, 'just test' runs every function against a real DynamoDB engine in-process."

# Run every test: domain, template reader, and the functions against dynoxide + HTTP fakes.
test:
    cargo test --workspace

# Format check, clippy with warnings as errors, and cfn-lint on the template.
lint: tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    {{venv}}/bin/cfn-lint template.yaml

# Build every function binary in release mode.
build:
    cargo build --release --workspace

# Python tools (cfn-lint, just itself) into ./.venv.
tools:
    @test -x {{venv}}/bin/cfn-lint || (python3 -m venv {{venv}} && {{venv}}/bin/pip install -q -r requirements-dev.txt)

# What CI runs: lint, tests, release build.
ci: lint test build
