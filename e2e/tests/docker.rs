//! The localstack backend: `docker-compose.yml` (LocalStack for the queues, DynamoDB Local for the
//! tables) and `just up-docker`, which points devstack at them. Machines without a Docker engine
//! (CI's among them) cannot start the containers, so one test checks the compose file against
//! what devstack's flags and the Justfile expect, and the other runs the scenarios on the real
//! containers wherever an engine answers.

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use testcontainers::core::{AccessMode, ContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// devstack's edge owns 4566 on the host, so LocalStack is published on the next port.
const LOCALSTACK_HOST_PORT: u16 = 4567;
const LOCALSTACK_PORT: u16 = 4566;
const DYNAMODB_LOCAL_PORT: u16 = 8000;
/// Where LocalStack looks for the scripts it runs once its services answer.
const READY_HOOKS: &str = "/etc/localstack/init/ready.d";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e sits in the workspace")
        .to_path_buf()
}

/// The part of a compose service this backend relies on, in the compose file's own terms.
struct Service {
    image: String,
    environment: BTreeMap<String, String>,
    /// (host, container), from `"[ip:]host:container[/proto]"` or the long syntax; ranges
    /// (none of ours) are left out.
    ports: Vec<(u16, u16)>,
    /// (source as written, target, read-only).
    volumes: Vec<(String, String, bool)>,
    command: Vec<String>,
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar in docker-compose.yml, found {other:?}"),
    }
}

/// A port as compose writes it (`4566`, `4566/tcp`); `None` for a range.
fn port(text: &str) -> Option<u16> {
    text.split('/').next().unwrap_or(text).parse().ok()
}

impl Service {
    fn parse(name: &str, yaml: &Value) -> Service {
        let image = yaml["image"]
            .as_str()
            .unwrap_or_else(|| panic!("service {name} names no image"))
            .to_owned();
        let environment = match &yaml["environment"] {
            Value::Mapping(map) => map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
            Value::Sequence(items) => items
                .iter()
                .map(|item| {
                    let item = scalar(item);
                    let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let ports = yaml["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Value::Mapping(_) => Some((
                    port(&scalar(&p["published"]))?,
                    port(&scalar(&p["target"]))?,
                )),
                short => {
                    let short = scalar(short);
                    let parts: Vec<&str> = short.rsplitn(3, ':').collect();
                    assert!(parts.len() >= 2, "port {short:?} publishes no host port");
                    Some((port(parts[1])?, port(parts[0])?))
                }
            })
            .collect();
        let volumes = yaml["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|v| match v {
                Value::Mapping(_) => (
                    scalar(&v["source"]),
                    scalar(&v["target"]),
                    v["read_only"].as_bool().unwrap_or(false),
                ),
                short => {
                    let short = scalar(short);
                    let parts: Vec<&str> = short.split(':').collect();
                    assert!(parts.len() >= 2, "volume {short:?} is not source:target");
                    let ro = parts
                        .get(2)
                        .is_some_and(|m| m.split(',').any(|m| m == "ro"));
                    (parts[0].to_owned(), parts[1].to_owned(), ro)
                }
            })
            .collect();
        let command = match &yaml["command"] {
            Value::Sequence(items) => items.iter().map(scalar).collect(),
            Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Service {
            image,
            environment,
            ports,
            volumes,
            command,
        }
    }

    /// The image's name and tag, refusing an unpinned one: a moving tag changes the emulator
    /// under the tests.
    fn pinned_image(&self) -> (&str, &str) {
        let (name, tag) = self
            .image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{} is not pinned to a tag", self.image));
        assert_ne!(tag, "latest", "{} is not pinned", self.image);
        (name, tag)
    }

    /// The host path behind a path inside the container, through a bind mount.
    fn host_path(&self, inside: &str) -> Option<PathBuf> {
        self.volumes
            .iter()
            .filter_map(|(source, target, _)| {
                let rest = inside.strip_prefix(target.trim_end_matches('/'))?;
                (rest.is_empty() || rest.starts_with('/'))
                    .then(|| repo().join(source).join(rest.trim_start_matches('/')))
            })
            .next()
    }
}

fn compose() -> BTreeMap<String, Service> {
    let path = repo().join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).expect("docker-compose.yml at the root");
    let yaml: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is YAML");
    yaml["services"]
        .as_mapping()
        .expect("docker-compose.yml has services")
        .iter()
        .map(|(name, service)| {
            let name = scalar(name);
            let parsed = Service::parse(&name, service);
            (name, parsed)
        })
        .collect()
}

/// The lines of a shell script or recipe with backslash continuations joined, split into words
/// with their quotes dropped.
fn commands(script: &str) -> Vec<Vec<String>> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
                .collect()
        })
        .collect()
}

/// The value after `flag` in a command.
fn flag<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    let at = command.iter().position(|w| w == flag)?;
    command.get(at + 1).map(String::as_str)
}

fn url_port(url: &str) -> u16 {
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{url} is not plain http"));
    let (_, p) = authority
        .trim_end_matches('/')
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url} names no port"));
    port(p).unwrap_or_else(|| panic!("{url} names no single port"))
}

/// The body of a Justfile recipe: its indented lines after the header.
fn recipe(justfile: &str, name: &str) -> String {
    let mut lines = justfile.lines().skip_while(|l| {
        !l.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with([' ', ':']))
    });
    assert!(
        lines.next().is_some(),
        "the Justfile has no `{name}` recipe"
    );
    lines
        .take_while(|l| l.is_empty() || l.starts_with([' ', '\t']))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_compose_file_names_what_devstack_expects() {
    let services = compose();
    let localstack = services.get("localstack").expect("a localstack service");
    let dynamodb = services
        .get("dynamodb-local")
        .expect("a dynamodb-local service");

    let (name, _) = localstack.pinned_image();
    assert_eq!(name, "localstack/localstack");
    assert!(
        localstack
            .ports
            .contains(&(LOCALSTACK_HOST_PORT, LOCALSTACK_PORT)),
        "LocalStack published on {LOCALSTACK_HOST_PORT} (devstack owns 4566): {:?}",
        localstack.ports
    );
    let wanted = localstack
        .environment
        .get("SERVICES")
        .expect("SERVICES limits LocalStack to what the product uses");
    for service in ["dynamodb", "sqs"] {
        assert!(
            wanted.split(',').any(|s| s.trim() == service),
            "SERVICES={wanted} lacks {service}"
        );
    }
    let token = localstack
        .environment
        .get("LOCALSTACK_AUTH_TOKEN")
        .expect("LocalStack images need an auth token since March 2026");
    assert!(
        token.starts_with("${LOCALSTACK_AUTH_TOKEN"),
        "the token comes from the environment, never the file: {token}"
    );

    // The ready hook is mounted, and runs devstack's provisioning (not a list of its own)
    // against LocalStack's port inside the container.
    let hooks = localstack
        .host_path(READY_HOOKS)
        .expect("localstack/init/ready.d mounted at /etc/localstack/init/ready.d");
    let hook = hooks.join("provision.sh");
    let script =
        std::fs::read_to_string(&hook).unwrap_or_else(|e| panic!("{}: {e}", hook.display()));
    let provision = commands(&script)
        .into_iter()
        .find(|c| {
            c.windows(2)
                .any(|w| w[0].ends_with("devstack") && w[1] == "provision")
        })
        .expect("the hook runs `devstack provision`");
    assert_eq!(flag(&provision, "--stack-name"), Some("url-shortener"));
    assert!(flag(&provision, "--template").is_some(), "{provision:?}");
    for endpoint in ["--dynamodb-endpoint", "--sqs-endpoint"] {
        let url = flag(&provision, endpoint).unwrap_or_else(|| panic!("{endpoint} in the hook"));
        assert_eq!(url_port(url), LOCALSTACK_PORT, "{endpoint} {url}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "LocalStack runs only executable hooks");
    }
    // What the hook runs is the binary `just up-docker` builds and the template, through a mount.
    let bin = localstack
        .environment
        .get("DEVSTACK_BIN")
        .expect("DEVSTACK_BIN");
    assert_eq!(
        localstack.host_path(bin),
        Some(repo().join("target/release/devstack")),
        "DEVSTACK_BIN={bin} is not the release build, mounted"
    );
    let template = localstack
        .environment
        .get("DEVSTACK_TEMPLATE")
        .expect("DEVSTACK_TEMPLATE");
    assert_eq!(
        localstack.host_path(template),
        Some(repo().join("template.yaml")),
        "DEVSTACK_TEMPLATE={template} is not the template, mounted"
    );

    let (name, _) = dynamodb.pinned_image();
    assert_eq!(name, "amazon/dynamodb-local");
    assert!(
        dynamodb
            .ports
            .contains(&(DYNAMODB_LOCAL_PORT, DYNAMODB_LOCAL_PORT)),
        "DynamoDB Local published on {DYNAMODB_LOCAL_PORT}: {:?}",
        dynamodb.ports
    );

    // `just up-docker` starts these and points devstack at exactly those ports.
    let justfile = std::fs::read_to_string(repo().join("Justfile")).unwrap();
    let body = recipe(&justfile, "up-docker");
    assert!(
        body.contains("docker compose up"),
        "up-docker starts the compose file:\n{body}"
    );
    let up = commands(&body)
        .into_iter()
        .find(|c| {
            c.windows(2)
                .any(|w| w[0].ends_with("devstack") && w[1] == "up")
        })
        .expect("up-docker runs `devstack up`");
    assert_eq!(flag(&up, "--stack-name"), Some("url-shortener"));
    let tables = flag(&up, "--dynamodb-endpoint").expect("--dynamodb-endpoint");
    assert_eq!(url_port(tables), DYNAMODB_LOCAL_PORT, "{tables}");
    let queues = flag(&up, "--sqs-endpoint").expect("--sqs-endpoint");
    assert_eq!(url_port(queues), LOCALSTACK_HOST_PORT, "{queues}");
}

/// Asks the engine's `/_ping` over `stream`: an engine answers `OK`; a socket left behind by a
/// stopped daemon refuses or says nothing.
fn ping(mut stream: impl Read + Write) -> std::io::Result<bool> {
    stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.starts_with("HTTP/1.") && answer.split_whitespace().nth(1) == Some("200"))
}

/// A daemon that hangs must not hang the test.
const PING_TIMEOUT: Option<Duration> = Some(Duration::from_secs(3));

fn ping_unix(path: &str) -> Result<String, String> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("connect {path}: {e}"))?;
    stream.set_read_timeout(PING_TIMEOUT).ok();
    match ping(stream) {
        Ok(true) => Ok(format!("unix://{path}")),
        Ok(false) => Err(format!("{path} does not answer /_ping")),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// Where a Docker engine answers (as testcontainers will look for it), or why none does.
fn docker_engine() -> Result<String, String> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if let Some(path) = host.strip_prefix("unix://") {
            return ping_unix(path);
        }
        if let Some(addr) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let stream = std::net::TcpStream::connect(addr.trim_end_matches('/'))
                .map_err(|e| format!("DOCKER_HOST={host}: {e}"))?;
            stream.set_read_timeout(PING_TIMEOUT).ok();
            return match ping(stream) {
                Ok(true) => Ok(host),
                _ => Err(format!("DOCKER_HOST={host} does not answer /_ping")),
            };
        }
        return Err(format!(
            "DOCKER_HOST={host}: not a unix:// or tcp:// engine"
        ));
    }
    // The sockets testcontainers tries when DOCKER_HOST is unset: the system daemon's, then
    // Docker Desktop's.
    let home = std::env::var("HOME").unwrap_or_default();
    let mut reasons = Vec::new();
    for path in [
        "/var/run/docker.sock".to_owned(),
        format!("{home}/.docker/run/docker.sock"),
        format!("{home}/.docker/desktop/docker.sock"),
    ] {
        match ping_unix(&path) {
            Ok(engine) => return Ok(engine),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!("DOCKER_HOST unset; {}", reasons.join("; ")))
}

/// Starts one compose service with testcontainers: its image, command, environment (the token
/// from ours) and bind mounts, with its container ports published on free host ports, so a
/// `just up-docker` already holding 4567 and 8000 does not clash.
async fn start(service: &Service, ready: WaitFor) -> ContainerAsync<GenericImage> {
    let (name, tag) = service.pinned_image();
    let mut image = GenericImage::new(name, tag).with_wait_for(ready);
    for &(_, container) in &service.ports {
        image = image.with_exposed_port(ContainerPort::Tcp(container));
    }
    // Pulling LocalStack's image (over a gigabyte) and starting its JVM-backed DynamoDB take
    // minutes on a slow line.
    let mut request = image.with_startup_timeout(Duration::from_secs(600));
    if !service.command.is_empty() {
        request = request.with_cmd(service.command.clone());
    }
    for (key, value) in &service.environment {
        // Compose interpolates `${...}`; here the test's environment does.
        let value = match value.strip_prefix("${") {
            Some(rest) => {
                let var = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default();
                std::env::var(var).unwrap_or_default()
            }
            None => value.clone(),
        };
        request = request.with_env_var(key.clone(), value);
    }
    for (source, target, ro) in &service.volumes {
        let source = repo().join(source);
        let source = source.canonicalize().unwrap_or(source);
        let mount = Mount::bind_mount(source.to_string_lossy(), target.clone());
        request = request.with_mount(if *ro {
            mount.with_access_mode(AccessMode::ReadOnly)
        } else {
            mount
        });
    }
    request
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting {}: {e}", service.image))
}

/// `http://host:port` for a container port, as this process reaches it.
async fn endpoint(container: &ContainerAsync<GenericImage>, port: u16) -> String {
    let host = container.get_host().await.unwrap().to_string();
    // The port is the IPv4 mapping; `localhost` may resolve to ::1 first.
    let host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let port = container
        .get_host_port_ipv4(ContainerPort::Tcp(port))
        .await
        .unwrap();
    format!("http://{host}:{port}")
}

/// The scenarios of the other test files, on LocalStack's SQS and DynamoDB Local's tables (the
/// split `just up-docker` uses), started from the images and settings of docker-compose.yml.
#[tokio::test(flavor = "multi_thread")]
async fn scenarios_pass_on_localstack() {
    let engine = match docker_engine() {
        Ok(engine) => engine,
        Err(reason) => {
            eprintln!("skipped: no Docker engine answers ({reason})");
            return;
        }
    };
    if std::env::var_os("LOCALSTACK_AUTH_TOKEN").is_none_or(|t| t.is_empty()) {
        eprintln!(
            "skipped: LOCALSTACK_AUTH_TOKEN is unset, and LocalStack images need an auth token \
             since March 2026 (the Docker engine at {engine} answers)"
        );
        return;
    }
    let services = compose();
    let localstack = start(
        &services["localstack"],
        WaitFor::message_on_stdout("Ready."),
    )
    .await;
    let dynamodb = start(
        &services["dynamodb-local"],
        WaitFor::message_on_stdout("Initializing DynamoDB Local"),
    )
    .await;
    let sqs = endpoint(&localstack, LOCALSTACK_PORT).await;
    let tables = endpoint(&dynamodb, DYNAMODB_LOCAL_PORT).await;

    // LocalStack is Ready before its ready.d hooks run; the hook must have run and succeeded,
    // as the compose healthcheck requires.
    let client = reqwest::Client::new();
    let mut init = serde_json::Value::Null;
    for _ in 0..300 {
        if let Ok(answer) = client
            .get(format!("{sqs}/_localstack/init/ready"))
            .send()
            .await
        {
            init = answer.json().await.unwrap_or_default();
            if init["completed"] == true {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(init["completed"], true, "LocalStack's ready hooks: {init}");
    for script in init["scripts"].as_array().into_iter().flatten() {
        assert_eq!(
            script["state"], "SUCCESSFUL",
            "{script} (a stale target/release/devstack? `cargo build --release -p devstack`)"
        );
    }

    // The same scenario files as every backend, in a child cargo: the harness reads its backend
    // from the environment when each scenario starts its stack.
    let mut scenarios = tokio::process::Command::new(env!("CARGO"));
    scenarios
        .args([
            "test", "-p", "e2e", "--test", "links", "--test", "flows", "--test", "limits",
        ])
        .current_dir(repo())
        .env("E2E_BACKEND", "external")
        .env("E2E_DYNAMODB_ENDPOINT", &tables)
        .env("E2E_SQS_ENDPOINT", &sqs)
        .kill_on_drop(true);
    eprintln!("running the scenarios with DynamoDB at {tables} and SQS at {sqs}");
    // Bounded: a scenario hung on an emulator would otherwise hold the containers forever.
    let status = tokio::time::timeout(Duration::from_secs(45 * 60), scenarios.status())
        .await
        .expect("the scenarios finish within 45 minutes")
        .expect("cargo runs");
    assert!(
        status.success(),
        "the scenarios failed on LocalStack and DynamoDB Local: {status}"
    );
}
