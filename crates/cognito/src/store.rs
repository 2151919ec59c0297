//! Users and refresh tokens, in memory and (with a state directory) in `users.json`, written
//! whole after every change through a temporary file and a rename, so a crash leaves either
//! the old or the new file, never half of one.

use crate::attrs::{self, Attributes};
use crate::password::PasswordHash;
use crate::{CognitoError, SentCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use template::model::UserPool;

const FILE: &str = "users.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum UserStatus {
    Unconfirmed,
    Confirmed,
    ForceChangePassword,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
            Self::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
        }
    }
}

/// A confirmation code waiting for `ConfirmSignUp`, and the attribute it was sent to (which
/// the confirmation verifies).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingCode {
    pub code: String,
    pub attribute: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    /// `cognito:username`: what the user signed up with, or the `sub` in a pool whose
    /// `UsernameAttributes` make the email (or phone) the login.
    pub username: String,
    /// Every attribute, `sub` included.
    pub attributes: Attributes,
    pub password: PasswordHash,
    pub status: UserStatus,
    pub enabled: bool,
    pub created_ms: i64,
    pub modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_code: Option<PendingCode>,
    /// When a temporary password (FORCE_CHANGE_PASSWORD) stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_until_ms: Option<i64>,
}

impl User {
    pub fn sub(&self) -> &str {
        self.attributes.get("sub").map_or("", String::as_str)
    }
}

/// What a sign-in fixed for all the tokens that descend from it (refreshes keep these).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Origin {
    pub auth_time: i64,
    pub origin_jti: String,
    pub event_id: String,
}

/// A refresh token's grant; the token itself is stored only as its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshGrant {
    pub pool_id: String,
    pub client_id: String,
    pub username: String,
    pub expires_ms: i64,
    pub origin: Origin,
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    #[serde(default)]
    pub version: u32,
    /// Users by pool id, then by username.
    #[serde(default)]
    pub pools: BTreeMap<String, BTreeMap<String, User>>,
    /// Grants by the hex SHA-256 of the refresh token.
    #[serde(default)]
    pub refresh_tokens: BTreeMap<String, RefreshGrant>,
}

/// A challenge in progress (`NEW_PASSWORD_REQUIRED`): short-lived, so memory only.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub pool_id: String,
    pub client_id: String,
    pub username: String,
    pub expires_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub saved: Saved,
    pub sent: Vec<SentCode>,
    pub sessions: HashMap<String, Session>,
}

impl State {
    pub fn users(&self, pool_id: &str) -> Option<&BTreeMap<String, User>> {
        self.saved.pools.get(pool_id)
    }

    pub fn users_mut(&mut self, pool_id: &str) -> &mut BTreeMap<String, User> {
        self.saved.pools.entry(pool_id.to_owned()).or_default()
    }

    pub fn user(&self, pool_id: &str, username: &str) -> Option<&User> {
        self.users(pool_id)?.get(username)
    }

    pub fn user_mut(&mut self, pool_id: &str, username: &str) -> Option<&mut User> {
        self.saved.pools.get_mut(pool_id)?.get_mut(username)
    }

    /// The username of the user who signs in as `login`: the username itself, or, in a pool
    /// with `UsernameAttributes`, the email or phone number.
    pub fn find_login(&self, pool: &UserPool, login: &str) -> Option<String> {
        let users = self.users(&pool.id)?;
        if users.contains_key(login) {
            return Some(login.to_owned());
        }
        pool.username_attributes.iter().find_map(|attr| {
            users
                .values()
                .find(|u| {
                    u.attributes
                        .get(attr)
                        .is_some_and(|v| attrs::same_login(attr, v, login))
                })
                .map(|u| u.username.clone())
        })
    }
}

pub(crate) struct Store {
    file: Option<PathBuf>,
    state: Mutex<State>,
}

impl Store {
    /// The state of `dir` (empty if it has none yet), or an empty in-memory state.
    pub fn open(dir: Option<&Path>) -> Result<Self, CognitoError> {
        let Some(dir) = dir else {
            return Ok(Self {
                file: None,
                state: Mutex::new(State::default()),
            });
        };
        let file = dir.join(FILE);
        let saved = match std::fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CognitoError::BadState {
                    path: file.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(source) => {
                return Err(CognitoError::Io {
                    action: "read",
                    path: file,
                    source,
                });
            }
        };
        Ok(Self {
            file: Some(file),
            state: Mutex::new(State {
                saved,
                ..State::default()
            }),
        })
    }

    /// The state, even if a thread panicked while holding it: every change is completed
    /// before anything that could panic, so the data stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the state's users and grants, if this store has a file. Called with the lock
    /// held, so writes happen in the order of the changes.
    pub fn save(&self, state: &mut State) -> Result<(), CognitoError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        state.saved.version = VERSION;
        let bytes =
            serde_json::to_vec_pretty(&state.saved).map_err(|source| CognitoError::BadState {
                path: file.clone(),
                source,
            })?;
        write_atomically(file, &bytes, false)
    }
}

/// Writes `bytes` to `path` through `path.tmp` and a rename; `private` makes the file
/// readable by its owner only (the signing key).
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    private: bool,
) -> Result<(), CognitoError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| CognitoError::Io {
            action,
            path,
            source,
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(&tmp).map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    // Flushed before the rename, so the new name never points at unwritten data.
    f.sync_all().map_err(io("write", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("replace", path))
}
