//! Registry credentials, found where the Docker CLI keeps them, so that what an operator did
//! with `docker login` works for composed too.
//!
//! The file is `config.json` in `$DOCKER_CONFIG`, else in `~/.docker` (the units set
//! `DOCKER_CONFIG=/root/.docker`). For a registry, `credHelpers` names a
//! `docker-credential-<helper>` to ask; else `credsStore` does; else `auths` holds the
//! base64 `user:password` (or an identity token) itself. The file is read again for every pull,
//! so a later `docker login` needs no restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// The server address the Docker CLI uses for Docker Hub.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The parts of `config.json` that carry credentials.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What a `docker-credential-*` helper answers to `get`.
#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The credentials an operator has, as the Docker CLI would find them.
#[derive(Debug, Default)]
pub struct Credentials {
    path: PathBuf,
    config: ConfigFile,
}

/// Credentials for one registry, and where they came from (for messages, never the secret).
#[derive(Debug, Clone)]
pub struct Found {
    pub credentials: DockerCredentials,
    pub source: String,
}

impl Credentials {
    /// Reads the operator's `config.json`. A missing file means no credentials; an unreadable or
    /// malformed one is an error naming it.
    pub fn load() -> Result<Credentials, String> {
        let path = config_dir().join("config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials {
                    path,
                    config: ConfigFile::default(),
                });
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let config = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a Docker CLI config file: {e}", path.display()))?;
        Ok(Credentials { path, config })
    }

    /// The file credentials are read from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The credentials for `registry` (`docker.io` for Docker Hub, else `host[:port]`).
    pub async fn for_registry(&self, registry: &str) -> Result<Option<Found>, String> {
        let server = server_address(registry);
        let helper = self
            .config
            .cred_helpers
            .iter()
            .find(|(key, _)| hostname(key) == hostname(&server))
            .map(|(_, helper)| helper)
            .or(self.config.creds_store.as_ref());
        if let Some(helper) = helper {
            return ask_helper(helper, &server).await;
        }
        Ok(self
            .config
            .auths
            .iter()
            .find(|(key, _)| hostname(key) == hostname(&server))
            .and_then(|(key, entry)| {
                from_entry(entry, key).map(|credentials| Found {
                    credentials,
                    source: self.path.display().to_string(),
                })
            }))
    }

    /// Every registry's credentials the file has, for a build whose base images may come from
    /// any of them. A helper that fails is left out.
    pub async fn all(&self) -> HashMap<String, DockerCredentials> {
        let mut registries: Vec<String> = self.config.auths.keys().cloned().collect();
        registries.extend(self.config.cred_helpers.keys().cloned());
        let mut out = HashMap::new();
        for key in registries {
            if let Ok(Some(found)) = self.for_registry(hostname(&key)).await {
                out.insert(key.clone(), found.credentials);
            }
        }
        out
    }
}

/// A Docker CLI `config.json` holding only these logins (`auths`), as compose gives a
/// `use_api_socket` service; helpers' answers are written out, so the container needs none.
pub fn config_json(logins: &HashMap<String, DockerCredentials>) -> String {
    let mut auths = serde_json::Map::new();
    for (registry, c) in logins {
        let mut entry = serde_json::Map::new();
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            entry.insert(
                "auth".into(),
                encode_base64(format!("{user}:{password}").as_bytes()).into(),
            );
        }
        if let Some(token) = &c.identitytoken {
            entry.insert("identitytoken".into(), token.clone().into());
        }
        auths.insert(registry.clone(), entry.into());
    }
    // Indented with tabs, as the Docker CLI writes the file.
    let mut out = Vec::new();
    let mut writer =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
    let _ = serde::Serialize::serialize(&serde_json::json!({ "auths": auths }), &mut writer);
    String::from_utf8(out).unwrap_or_default()
}

/// Standard base64 with padding.
fn encode_base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

/// `$DOCKER_CONFIG`, else `.docker` in the home directory, as the Docker CLI finds it.
fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    crate::user::home()
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".docker")
}

/// The key the Docker CLI files a registry under: Docker Hub's legacy address, else the host.
fn server_address(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// The registry behind a key of `auths` (`https://host:5000/v1/` -> `host:5000`).
fn hostname(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

fn from_entry(entry: &AuthEntry, key: &str) -> Option<DockerCredentials> {
    let (username, password) = match &entry.auth {
        Some(auth) if !auth.is_empty() => {
            let decoded = decode_base64(auth)?;
            let (user, password) = decoded.split_once(':')?;
            (Some(user.to_string()), Some(password.to_string()))
        }
        _ => (entry.username.clone(), entry.password.clone()),
    };
    if username.is_none() && entry.identitytoken.is_none() {
        return None;
    }
    Some(DockerCredentials {
        username,
        password,
        identitytoken: entry.identitytoken.clone().filter(|t| !t.is_empty()),
        serveraddress: Some(key.to_string()),
        ..Default::default()
    })
}

/// Runs `docker-credential-<helper> get` with the server on stdin. "Not found" is `None`.
async fn ask_helper(helper: &str, server: &str) -> Result<Option<Found>, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program} (named in the Docker config): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} did not answer within {} s", HELPER_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{program} get failed: {said}"));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{program} gave an answer composed cannot read: {e}"))?;
    let mut credentials = DockerCredentials {
        serveraddress: Some(server.to_string()),
        ..Default::default()
    };
    if answer.username == "<token>" {
        credentials.identitytoken = Some(answer.secret);
    } else {
        credentials.username = Some(answer.username);
        credentials.password = Some(answer.secret);
    }
    Ok(Some(Found {
        credentials,
        source: program,
    }))
}

/// Standard base64 (with or without padding), as `docker login` writes `auth`.
fn decode_base64(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(json: &str) -> Credentials {
        Credentials {
            path: PathBuf::from("/test/config.json"),
            config: serde_json::from_str(json).unwrap(),
        }
    }

    #[test]
    fn base64_as_docker_login_writes_it() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").as_deref(), Some("user:pass"));
        assert_eq!(decode_base64("YTpi").as_deref(), Some("a:b"));
        assert_eq!(decode_base64("YTpiYw==").as_deref(), Some("a:bc"));
        assert_eq!(decode_base64("not base64!"), None);
        for text in ["user:pass", "a:b", "a:bc", "", "x"] {
            assert_eq!(decode_base64(&encode_base64(text.as_bytes())).as_deref(), Some(text));
        }
        assert_eq!(encode_base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(encode_base64(b"a:bc"), "YTpiYw==");
    }

    #[test]
    fn registries_are_matched_by_host() {
        assert_eq!(hostname("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(hostname("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(hostname("registry.example.com"), "registry.example.com");
        assert_eq!(server_address("docker.io"), DOCKER_HUB);
    }

    #[tokio::test]
    async fn auths_give_user_and_password() {
        let c = credentials(
            r#"{"auths": {"127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"}, "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="}}}"#,
        );
        let found = c.for_registry("127.0.0.1:5000").await.unwrap().unwrap();
        assert_eq!(found.credentials.username.as_deref(), Some("user"));
        assert_eq!(found.credentials.password.as_deref(), Some("pass"));
        assert_eq!(found.source, "/test/config.json");
        let hub = c.for_registry("docker.io").await.unwrap().unwrap();
        assert_eq!(hub.credentials.username.as_deref(), Some("hub"));
        assert!(c.for_registry("other:5000").await.unwrap().is_none());
        assert_eq!(c.all().await.len(), 2);
    }

    #[tokio::test]
    async fn an_entry_without_credentials_is_none() {
        let c = credentials(r#"{"auths": {"r:5000": {}}}"#);
        assert!(c.for_registry("r:5000").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_missing_helper_is_an_error_naming_it() {
        let c = credentials(r#"{"credHelpers": {"r:5000": "composed-test-missing"}}"#);
        let err = c.for_registry("r:5000").await.unwrap_err();
        assert!(err.contains("docker-credential-composed-test-missing"), "{err}");
        // Other registries do not ask that helper.
        assert!(c.for_registry("s:5000").await.unwrap().is_none());
    }
}
