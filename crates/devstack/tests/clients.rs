//! Independent clients against the edge port: the AWS CLI (PyPI `awscli`) for Lambda and
//! DynamoDB, and `cargo lambda invoke` (PyPI `cargo-lambda`). `just tools` (and `.ci/run`)
//! install both into `.venv`.

use devstack::{Config, Devstack};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

/// A tool from the workspace's `.venv/bin`, else from PATH.
fn tool(name: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.venv/bin")
        .join(name);
    if venv.is_file() {
        return venv;
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{name} is not installed: run `just tools` (pip install -r requirements-dev.txt into .venv)"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn aws(edge: &str) -> Command {
    let mut c = Command::new(tool("aws"));
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(["--endpoint-url", edge, "--output", "json"]);
    c
}

#[tokio::test]
async fn the_aws_cli_and_cargo_lambda_work_against_the_edge_port() {
    let template = format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let ds = Devstack::start(Config::for_tests(template)).await.unwrap();
    let edge = ds.edge_url.clone();
    let port = edge.rsplit(':').next().unwrap().to_owned();
    let out_file = std::env::temp_dir().join(format!("devstack-cli-{}.json", std::process::id()));

    let (edge2, out2) = (edge.clone(), out_file.clone());
    let (listed, invoked, tables, cargo_lambda) = tokio::task::spawn_blocking(move || {
        let listed = run(aws(&edge2).args(["lambda", "list-functions"]));
        let invoked = run(aws(&edge2)
            .args([
                "lambda",
                "invoke",
                "--function-name",
                "devstack-Echo",
                "--payload",
                r#"{"from":"aws-cli"}"#,
            ])
            .arg(&out2));
        run(aws(&edge2).args([
            "dynamodb",
            "put-item",
            "--table-name",
            "devstack-Table",
            "--item",
            r#"{"pk":{"S":"cli"},"n":{"N":"7"}}"#,
        ]));
        let tables = run(aws(&edge2).args([
            "dynamodb",
            "get-item",
            "--table-name",
            "devstack-Table",
            "--key",
            r#"{"pk":{"S":"cli"}}"#,
        ]));
        let cargo_lambda = run(Command::new(tool("cargo-lambda")).args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
            "--data-ascii",
            r#"{"from":"cargo-lambda"}"#,
            "devstack-Echo",
        ]));
        (listed, invoked, tables, cargo_lambda)
    })
    .await
    .unwrap();

    let listed: Value = serde_json::from_str(&listed).unwrap();
    let mut names: Vec<&str> = listed["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["devstack-Echo", "devstack-Redirect", "devstack-Single"]
    );
    let invoked: Value = serde_json::from_str(&invoked).unwrap();
    assert_eq!(invoked["StatusCode"], json!(200));
    let payload: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(payload["echo"], json!({"from": "aws-cli"}));
    let item: Value = serde_json::from_str(&tables).unwrap();
    assert_eq!(item["Item"]["n"], json!({"N": "7"}));
    let via_cargo_lambda: Value = serde_json::from_str(cargo_lambda.trim()).unwrap();
    assert_eq!(via_cargo_lambda["echo"], json!({"from": "cargo-lambda"}));
    let _ = std::fs::remove_file(&out_file);
    ds.shutdown().await;
}

#[tokio::test]
async fn the_aws_cli_signs_up_confirms_and_logs_in() {
    let template = format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let ds = Devstack::start(Config::for_tests(template)).await.unwrap();
    let edge = ds.edge_url.clone();
    let pool = ds.stack.user_pools[0].id.clone();
    let client = ds.stack.user_pool_clients[0].id.clone();
    let cognito = ds.cognito.clone();
    let (signed_up, pools, login) = tokio::task::spawn_blocking(move || {
        let idp = |args: &[&str]| run(aws(&edge).arg("cognito-idp").args(args));
        let pools = idp(&["list-user-pools", "--max-results", "10"]);
        let signed_up = idp(&[
            "sign-up",
            "--client-id",
            &client,
            "--username",
            "carol@example.com",
            "--password",
            "Sup3r-secret",
            "--user-attributes",
            "Name=email,Value=carol@example.com",
        ]);
        // The code Cognito would have emailed.
        let code = cognito
            .sent_codes()
            .last()
            .expect("a confirmation code")
            .code
            .clone();
        idp(&[
            "confirm-sign-up",
            "--client-id",
            &client,
            "--username",
            "carol@example.com",
            "--confirmation-code",
            &code,
        ]);
        let login = idp(&[
            "initiate-auth",
            "--client-id",
            &client,
            "--auth-flow",
            "USER_PASSWORD_AUTH",
            "--auth-parameters",
            "USERNAME=carol@example.com,PASSWORD=Sup3r-secret",
        ]);
        (signed_up, pools, login)
    })
    .await
    .unwrap();
    let pools: Value = serde_json::from_str(&pools).unwrap();
    assert_eq!(pools["UserPools"][0]["Id"], json!(pool));
    let signed_up: Value = serde_json::from_str(&signed_up).unwrap();
    assert_eq!(signed_up["UserConfirmed"], json!(false));
    let login: Value = serde_json::from_str(&login).unwrap();
    let id_token = login["AuthenticationResult"]["IdToken"]
        .as_str()
        .expect("an id token");
    // That token opens the API's JWT route.
    let base = ds.http_url.clone().unwrap();
    let r = reqwest::Client::new()
        .get(format!("{base}/private"))
        .bearer_auth(id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    ds.shutdown().await;
}
