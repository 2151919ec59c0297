//! The static site on the edge: the folder of the template's bucket with `Metadata.Site`, or
//! `devstack up --site DIR`. Its files under `/dashboard/` with their content types,
//! `index.html` for the directory, `config.json` from the site's config output resolved to the
//! running stack, and nothing outside the directory or excluded from the site.

use devstack::{Config, Devstack, SiteChoice};
use serde_json::json;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/dashboard.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A tiny site, with a secret next to it that no URL may reach.
fn site() -> PathBuf {
    let root = std::env::temp_dir().join(format!("devstack-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("site");
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>dash</title>").unwrap();
    std::fs::write(dir.join("app.js"), "export const x = 1;\n").unwrap();
    std::fs::write(dir.join("style.css"), "body { margin: 0 }\n").unwrap();
    std::fs::write(dir.join("img/logo.svg"), "<svg/>").unwrap();
    std::fs::write(root.join("secret.txt"), "do not serve").unwrap();
    // Excluded by the template's Metadata.Site.
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("tests/spec.mjs"), "not part of the site").unwrap();
    std::fs::write(dir.join("notes.md"), "not part of the site").unwrap();
    dir
}

/// A request sent byte for byte, so that `..` reaches the server unnormalized (HTTP clients
/// resolve dot segments, even percent-encoded ones, before sending).
async fn raw_get(edge: &str, path: &str) -> u16 {
    let addr = edge.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn the_site_is_served_with_a_config_of_the_running_stack() {
    let mut config = Config::for_tests(fixture());
    config.site = SiteChoice::Dir(site());
    let ds = Devstack::start(config).await.expect("devstack starts");
    let dashboard = ds.dashboard_url.clone().expect("a site is served");
    assert_eq!(dashboard, format!("{}/dashboard/", ds.edge_url));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| http.get(format!("{}{path}", ds.edge_url)).send();

    // The page, for the directory and by name, and each file with its content type.
    for (path, ty, body) in [
        (
            "/dashboard/",
            "text/html; charset=utf-8",
            "<!doctype html><title>dash</title>",
        ),
        (
            "/dashboard/index.html",
            "text/html; charset=utf-8",
            "<!doctype html><title>dash</title>",
        ),
        (
            "/dashboard/app.js",
            "text/javascript; charset=utf-8",
            "export const x = 1;\n",
        ),
        (
            "/dashboard/style.css",
            "text/css; charset=utf-8",
            "body { margin: 0 }\n",
        ),
        ("/dashboard/img/logo.svg", "image/svg+xml", "<svg/>"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        assert_eq!(r.text().await.unwrap(), body, "{path}");
    }
    // Without the slash, the page's relative URLs would miss: redirected.
    let r = get("/dashboard").await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/dashboard/");

    // config.json: the fixture template's PageConfig output, resolved to this stack.
    let r = get("/dashboard/config.json").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    let pool = &ds.stack.user_pools[0];
    let client = &ds.stack.user_pool_clients[0];
    assert_eq!(client.user_pool_id, pool.id);
    assert_eq!(
        body,
        json!({
            "apiUrl": ds.http_url.clone().unwrap(),
            "websocketUrl": format!("{}/live", ds.ws_url),
            "userPoolProviderUrl": format!("{}/{}", ds.edge_url, pool.id),
            "userPoolClientId": client.id,
            "devstack": {
                "cognitoMessages": format!("{}/_devstack/cognito/messages", ds.edge_url),
            },
        })
    );
    // The pool and client it names are the ones the Cognito API knows.
    let pools: serde_json::Value = http
        .post(&ds.edge_url)
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.ListUserPools",
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(r#"{"MaxResults": 10}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pools["UserPools"][0]["Id"], pool.id.as_str());
    // The issuer's origin is where the page sends its Cognito calls: the edge.
    assert!(
        body["userPoolProviderUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/", ds.edge_url))
    );

    // Unknown files, and every way out of the directory: 404.
    for path in [
        "/dashboard/nope.js",
        "/dashboard/img/nope.svg",
        "/dashboard/img/logo.svg/x",
        // Excluded by Metadata.Site, though in the folder.
        "/dashboard/tests/spec.mjs",
        "/dashboard/tests/",
        "/dashboard/notes.md",
        "/dashboard//tests/spec.mjs",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }
    for path in [
        "/dashboard/../secret.txt",
        "/dashboard/%2e%2e/secret.txt",
        "/dashboard/%2E%2E/secret.txt",
        "/dashboard/img/../../secret.txt",
        "/dashboard/..%2fsecret.txt",
        "/dashboard/..%5csecret.txt",
        "/dashboard/%2fetc%2fpasswd",
        "/dashboard//etc/passwd",
    ] {
        assert_eq!(raw_get(&ds.edge_url, path).await, 404, "{path}");
    }
    ds.shutdown().await;
}

#[tokio::test]
async fn the_template_names_the_site_folder() {
    // No --site: the Source of the template's bucket, the repository's dashboard/.
    let mut config = Config::for_tests(fixture());
    config.site = SiteChoice::Template;
    let ds = Devstack::start(config).await.expect("devstack starts");
    assert_eq!(
        ds.dashboard_url.as_deref(),
        Some(format!("{}/dashboard/", ds.edge_url).as_str())
    );
    let get = |path: &str| reqwest::get(format!("{}{path}", ds.edge_url));
    let page = get("/dashboard/").await.unwrap().text().await.unwrap();
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dashboard/index.html"
    ))
    .unwrap();
    assert_eq!(page, on_disk);
    assert_eq!(get("/dashboard/app.js").await.unwrap().status(), 200);
    // The browser test and its node_modules are in the folder, not in the site.
    for path in [
        "/dashboard/tests/package.json",
        "/dashboard/tests/dashboard.test.mjs",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(get("/dashboard/config.json").await.unwrap().status(), 200);
    ds.shutdown().await;
}

#[tokio::test]
async fn no_site_serves_nothing_and_a_missing_site_is_an_error() {
    // Config::for_tests serves no site, as --no-site.
    let ds = Devstack::start(Config::for_tests(fixture())).await.unwrap();
    assert_eq!(ds.dashboard_url, None);
    let r = reqwest::get(format!("{}/dashboard/", ds.edge_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    ds.shutdown().await;

    let mut config = Config::for_tests(fixture());
    config.site = SiteChoice::Dir(std::env::temp_dir().join("devstack-no-such-site-dir"));
    let err = Devstack::start(config).await.err().expect("refused");
    assert!(
        err.to_string().starts_with("the site folder ")
            && err
                .to_string()
                .ends_with("devstack-no-such-site-dir: No such file or directory (os error 2)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_config_output_that_is_not_a_json_object_is_an_error() {
    let dir = std::env::temp_dir().join(format!("devstack-site-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(fixture())
        .unwrap()
        .replace(
            "CodeUri: ../../../fixtures",
            &format!("CodeUri: {}/../fixtures", env!("CARGO_MANIFEST_DIR")),
        )
        .replace(
            "Source: ../../../../dashboard/",
            &format!("Source: {}/../../dashboard/", env!("CARGO_MANIFEST_DIR")),
        );
    let broken = text.replace(
        "      - '{\"apiUrl\"",
        "      - 'apiUrl=${Api.ApiEndpoint} {\"apiUrl\"",
    );
    assert_ne!(broken, text, "the fixture's output changed");
    let path = dir.join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let mut config = Config::for_tests(path.to_str().unwrap());
    config.site = SiteChoice::Template;
    let err = Devstack::start(config).await.err().expect("refused");
    assert!(
        err.to_string()
            .starts_with("the site's config output PageConfig is not a JSON object: "),
        "{err}"
    );
    // And a Config that names no output fails as the template loads.
    std::fs::write(&path, text.replace("Config: PageConfig", "Config: Nope")).unwrap();
    let mut config = Config::for_tests(path.to_str().unwrap());
    config.site = SiteChoice::Template;
    let err = Devstack::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("Nope"), "{err}");
    assert!(err.to_string().contains("Metadata.Site.Config"), "{err}");
}
