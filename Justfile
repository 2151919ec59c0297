# Recipes for the URL shortener and (from issue 3 on) devstack.
# Install just with `cargo install just` or `pip install rust-just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
deploy_venv := ".venv-deploy"

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
# Each of e2e/tests/*.rs by name across the workspace rather than `-p e2e`: the same features
# as `cargo test --workspace`, so nothing `just test` built is rebuilt (about 70 crates were).
e2e-on BACKEND *FLAGS: tools
    E2E_BACKEND={{BACKEND}} cargo test --workspace $(for f in e2e/tests/*.rs; do echo "--test $(basename "$f" .rs)"; done) {{FLAGS}}

# The dashboard in headless Chromium (/usr/bin/chromium, or CHROMIUM) under devstack: sign up,
# a link, its count moving live, stats, delete; screenshots in target/dashboard/.
dashboard-test:
    cargo test --workspace --test dashboard -- --nocapture

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

# ---------------------------------------------------------------------------------------------
# AWS: the same template.yaml and function crates, built by SAM (BuildMethod rust-cargolambda,
# through cargo-lambda and a pinned zig) and deployed with samconfig.toml's environments.
# One-time account setup: deploy/README.md; the whole story: docs/deploy.md.
# ---------------------------------------------------------------------------------------------

# rust-cargolambda is a SAM beta feature: without this, `sam build` stops at a yes/no prompt.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA := "1"
# SAM CLI sends no usage reports (CI and these machines reach no AWS endpoint).
export SAM_CLI_TELEMETRY := "0"

# Their own venv: requirements-deploy.txt says why.
# Deploy tools (SAM CLI, cargo-lambda with a pinned zig, cfn-lint, the AWS CLI) into ./.venv-deploy.
deploy-tools:
    @test {{deploy_venv}}/.installed -nt requirements-deploy.txt || (python3 -m venv {{deploy_venv}} && {{deploy_venv}}/bin/pip install -q -r requirements-deploy.txt && touch {{deploy_venv}}/.installed)

# `sam validate --lint`: the template as SAM checks it before a deployment (no account needed).
sam-validate: deploy-tools
    {{deploy_venv}}/bin/sam validate --lint --template template.yaml

# CI builds x86_64 (these machines have only that Rust target); `deploy` builds arm64, which
# needs `rustup target add aarch64-unknown-linux-gnu`.
# `sam build` of every function for ARCH into .aws-sam/build: the deploy artifacts, no account needed.
sam-build ARCH="x86_64": deploy-tools
    PATH="$PWD/{{deploy_venv}}/bin:$PATH" {{deploy_venv}}/bin/sam build --template template.yaml --parameter-overrides Architecture={{ARCH}}

# Checks the credentials first; publishes the dashboard to the new stack last (publish-dashboard).
# Build (arm64) and deploy to ENV (staging or prod, samconfig.toml), then publish the dashboard.
deploy ENV="staging": (aws-credentials ENV)
    just sam-build arm64
    PATH="$PWD/{{deploy_venv}}/bin:$PATH" {{deploy_venv}}/bin/sam deploy --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"}
    just publish-dashboard {{ENV}}

# What and where come from template.yaml (SiteBucket's Metadata.Site); FLAGS: --dry-run.
# Upload the dashboard (dashboard/, and the SiteConfig output as config.json) to ENV's stack.
publish-dashboard ENV="staging" *FLAGS: (aws-credentials ENV)
    {{deploy_venv}}/bin/python deploy/publish_site.py --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"} {{FLAGS}}

# Delete ENV's stack (the links table is retained: DeletionPolicy Retain; docs/deploy.md).
# The dashboard's bucket is emptied first: CloudFormation deletes only an empty bucket.
destroy ENV: (aws-credentials ENV)
    {{deploy_venv}}/bin/python deploy/publish_site.py --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"} --empty
    {{deploy_venv}}/bin/sam delete --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"}

# ENV's stack outputs: ApiUrl, UserPoolId, UserPoolClientId, ...
outputs ENV="staging": (aws-credentials ENV)
    {{deploy_venv}}/bin/sam list stack-outputs --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"} --output table

# FLAGS go to `sam logs`: --tail, -s '1h ago', --filter ...
# A function's logs in ENV, by logical id (e.g. ResolveLinkFunction).
logs FUNCTION ENV="staging" *FLAGS: (aws-credentials ENV)
    {{deploy_venv}}/bin/sam logs --config-env {{ENV}} ${AWS_REGION:+--region "$AWS_REGION"} --name {{FUNCTION}} {{FLAGS}}

# Pool and client come from a running devstack's edge (default; e.g. `just smoke
# http://127.0.0.1:3000` next to `just up`), or from a deployed stack's outputs with
# `--stack NAME` (credentials and AWS_REGION as for deploy). deploy/smoke.py says each step.
# Create, resolve and delete a link at URL (an HTTP API) as a real Cognito user, then delete the user.
smoke URL *FLAGS: deploy-tools
    {{deploy_venv}}/bin/python deploy/smoke.py --aws {{deploy_venv}}/bin/aws {{URL}} {{FLAGS}}

# Stops before anything is built when no AWS credentials answer, saying what to configure.
[private]
aws-credentials ENV:
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{ENV}}" in
        staging|prod) ;;
        *) echo "Unknown environment '{{ENV}}': staging or prod (samconfig.toml)." >&2; exit 2 ;;
    esac
    explain() {
        echo "" >&2
        echo "No usable AWS credentials: stopped before building or changing anything." >&2
        echo "Configure an account, then run this again:" >&2
        echo "  AWS_PROFILE=NAME                 a profile in ~/.aws/config (for SSO: aws sso login --profile NAME)" >&2
        echo "  or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)" >&2
        echo "  AWS_REGION=REGION                optional: the region (samconfig.toml's default is us-east-1)" >&2
        echo "  AWS_EC2_METADATA_DISABLED=false  to use an EC2 instance role instead" >&2
        echo "The account needs the one-time setup in docs/deploy.md (deploy/README.md: OIDC provider, deploy role, policy)." >&2
        exit 1
    }
    # Nothing that could hold credentials: say so at once, before installing anything.
    if [ -z "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}${AWS_DEFAULT_PROFILE:-}${AWS_WEB_IDENTITY_TOKEN_FILE:-}${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ] \
        && [ ! -e "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ] \
        && [ ! -e "${AWS_CONFIG_FILE:-$HOME/.aws/config}" ] \
        && [ "${AWS_EC2_METADATA_DISABLED:-}" != "false" ]; then
        explain
    fi
    just deploy-tools
    # The instance metadata endpoint only when asked for: without credentials the CLI would
    # otherwise wait on it before failing.
    export AWS_EC2_METADATA_DISABLED="${AWS_EC2_METADATA_DISABLED:-true}"
    if ! who=$({{deploy_venv}}/bin/aws sts get-caller-identity ${AWS_REGION:+--region "$AWS_REGION"} --query Arn --output text 2>&1); then
        echo "aws sts get-caller-identity: $(echo "$who" | sed '/^$/d')" >&2
        explain
    fi
    echo "AWS identity: $who (environment {{ENV}})"

# What CI runs against devstack; fails when devstack does not come up or a smoke step fails.
# FLAGS go to `devstack up`.
# The smoke test against a devstack it starts (in memory, default ports) and stops.
smoke-devstack *FLAGS: deploy-tools
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p devstack -p functions
    target/release/devstack up --in-memory --no-build --template template.yaml --stack-name url-shortener {{FLAGS}} &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
    for _ in $(seq 120); do
        curl -sf http://127.0.0.1:4566/_devstack/health >/dev/null && break
        kill -0 $pid 2>/dev/null || { echo "smoke-devstack: devstack exited before it was healthy" >&2; exit 1; }
        sleep 0.5
    done
    curl -sf http://127.0.0.1:4566/_devstack/health >/dev/null || { echo "smoke-devstack: devstack not healthy after 60 s" >&2; exit 1; }
    just smoke http://127.0.0.1:3000

# The deploy artifacts themselves (zig-linked, cargo-lambda's release settings) under devstack:
# each function's .aws-sam/build/<LogicalId>/bootstrap through `--function`. x86_64 only here.
# The smoke test against the artifacts of the last `just sam-build` instead of cargo's binaries.
smoke-artifacts:
    #!/usr/bin/env bash
    set -euo pipefail
    flags=()
    for f in .aws-sam/build/*/bootstrap; do
        [ -e "$f" ] || { echo "smoke-artifacts: no .aws-sam/build/*/bootstrap: run 'just sam-build' first" >&2; exit 1; }
        # ELF e_machine 0x3e: x86-64 (an arm64 build, 0xb7, cannot run here).
        [ "$(od -An -tx1 -j18 -N1 "$f" | tr -d ' ')" = 3e ] || { echo "smoke-artifacts: $f is not an x86-64 executable (built for arm64?)" >&2; exit 1; }
        d=${f%/bootstrap}
        flags+=("--function" "${d##*/}=$PWD/$f")
    done
    just smoke-devstack "${flags[@]}"
