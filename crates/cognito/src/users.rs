//! Users: self sign-up and its confirmation, and the administrator's operations.

use crate::attrs::{self, Attributes};
use crate::error::Fault;
use crate::input::Input;
use crate::password::{self, PasswordHash};
use crate::pools::TEMPORARY_PASSWORD_DAYS;
use crate::store::{PendingCode, State, User, UserStatus};
use crate::{Cognito, CognitoError, Pool, SentCode, SentKind, epoch_seconds, random};
use serde_json::{Value, json};
use template::model::UserPool;

/// Cognito's confirmation codes are valid for 24 hours.
const CODE_VALIDITY_MS: i64 = 24 * 3_600 * 1_000;
const DAY_MS: i64 = 86_400 * 1_000;
/// Messages kept for `sent_codes`.
const KEEP_SENT: usize = 1_000;

impl Cognito {
    pub(crate) fn sign_up(&self, input: Input<'_>) -> Result<Value, Fault> {
        let (pool, _client) = self.client(input)?;
        let login = input.required("Username")?;
        let pw = input.required("Password")?;
        password::check(&pool.model.password_policy, "Password", pw)?;
        let given = attrs::parse(input.0.get("UserAttributes"), "UserAttributes", false)?;
        let mut state = self.store.lock();
        if state.find_login(&pool.model, login).is_some() {
            return Err(Fault::new(
                "UsernameExistsException",
                exists_message(&pool.model, login),
            ));
        }
        let (username, attributes) = identity(&pool.model, login, given)?;
        let now = self.now_ms();
        let user = User {
            username: username.clone(),
            attributes,
            password: PasswordHash::new(pw)?,
            status: UserStatus::Unconfirmed,
            enabled: true,
            created_ms: now,
            modified_ms: now,
            pending_code: None,
            temporary_until_ms: None,
        };
        let sub = user.sub().to_owned();
        state
            .users_mut(&pool.model.id)
            .insert(username.clone(), user);
        let delivery = self.send_confirmation(&mut state, &pool.model, &username)?;
        self.store.save(&mut state)?;
        let mut out = json!({"UserConfirmed": false, "UserSub": sub});
        if let Some(delivery) = delivery {
            out["CodeDeliveryDetails"] = delivery;
        }
        Ok(out)
    }

    pub(crate) fn confirm_sign_up(&self, input: Input<'_>) -> Result<Value, Fault> {
        let (pool, _client) = self.client(input)?;
        let login = input.required("Username")?;
        let code = input.required("ConfirmationCode")?;
        let now = self.now_ms();
        let mut state = self.store.lock();
        let user = state
            .find_login(&pool.model, login)
            .and_then(|u| state.user_mut(&pool.model.id, &u))
            .ok_or_else(client_user_not_found)?;
        if user.status != UserStatus::Unconfirmed {
            return Err(cannot_confirm(user.status));
        }
        let Some(pending) = user
            .pending_code
            .as_ref()
            .filter(|p| same_code(&p.code, code))
        else {
            return Err(Fault::new(
                "CodeMismatchException",
                "Invalid verification code provided, please try again.",
            ));
        };
        if pending.expires_ms <= now {
            return Err(Fault::new(
                "ExpiredCodeException",
                "Invalid code provided, please request a code again.",
            ));
        }
        // The code proves the user reads the address it went to.
        let verified = format!("{}_verified", pending.attribute);
        user.attributes.insert(verified, "true".into());
        user.pending_code = None;
        user.status = UserStatus::Confirmed;
        user.modified_ms = now;
        self.store.save(&mut state)?;
        Ok(json!({}))
    }

    pub(crate) fn resend_confirmation_code(&self, input: Input<'_>) -> Result<Value, Fault> {
        let (pool, _client) = self.client(input)?;
        let login = input.required("Username")?;
        let mut state = self.store.lock();
        let username = state
            .find_login(&pool.model, login)
            .ok_or_else(client_user_not_found)?;
        if state
            .user(&pool.model.id, &username)
            .is_some_and(|u| u.status != UserStatus::Unconfirmed)
        {
            return Err(Fault::invalid_parameter("User is already confirmed."));
        }
        let delivery = self
            .send_confirmation(&mut state, &pool.model, &username)?
            .ok_or_else(|| Fault::invalid_parameter("Auto verification not turned on."))?;
        self.store.save(&mut state)?;
        Ok(json!({"CodeDeliveryDetails": delivery}))
    }

    pub(crate) fn admin_confirm_sign_up(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let now = self.now_ms();
        let mut state = self.store.lock();
        let user = admin_user(&mut state, pool, login)?;
        if user.status != UserStatus::Unconfirmed {
            return Err(cannot_confirm(user.status));
        }
        // Like Cognito, this confirms the account but verifies no attribute.
        user.status = UserStatus::Confirmed;
        user.pending_code = None;
        user.modified_ms = now;
        self.store.save(&mut state)?;
        Ok(json!({}))
    }

    pub(crate) fn admin_create_user(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let given = attrs::parse(input.0.get("UserAttributes"), "UserAttributes", true)?;
        let action = input.str("MessageAction")?;
        if let Some(a) = action.filter(|a| !matches!(*a, "SUPPRESS" | "RESEND")) {
            return Err(Fault::constraint(
                "MessageAction",
                a,
                "Member must satisfy enum value set: [RESEND, SUPPRESS]",
            ));
        }
        let mediums = input.strings("DesiredDeliveryMediums")?;
        if let Some(m) = mediums.iter().find(|m| !matches!(**m, "SMS" | "EMAIL")) {
            return Err(Fault::constraint(
                "DesiredDeliveryMediums",
                m,
                "Member must satisfy enum value set: [SMS, EMAIL]",
            ));
        }
        let temporary = input.str("TemporaryPassword")?;
        if let Some(t) = temporary {
            password::check(&pool.model.password_policy, "TemporaryPassword", t)?;
        }
        let temporary = match temporary {
            Some(t) => t.to_owned(),
            None => password::generate(&pool.model.password_policy)?,
        };
        let now = self.now_ms();
        let mut state = self.store.lock();
        let existing = state.find_login(&pool.model, login);
        let username = match (action, existing) {
            // RESEND: a new temporary password (and invitation) for an invited user.
            (Some("RESEND"), Some(username)) => {
                let user = admin_user(&mut state, pool, &username)?;
                if user.status != UserStatus::ForceChangePassword {
                    return Err(Fault::new(
                        "UnsupportedUserStateException",
                        format!(
                            "Resend not possible. {username} status is not FORCE_CHANGE_PASSWORD"
                        ),
                    ));
                }
                user.password = PasswordHash::new(&temporary)?;
                user.temporary_until_ms = Some(now + TEMPORARY_PASSWORD_DAYS * DAY_MS);
                user.modified_ms = now;
                username
            }
            (Some("RESEND"), None) => return Err(Fault::user_not_found()),
            (_, Some(_)) => {
                return Err(Fault::new(
                    "UsernameExistsException",
                    "User account already exists",
                ));
            }
            (_, None) => {
                let (username, attributes) = identity(&pool.model, login, given)?;
                let user = User {
                    username: username.clone(),
                    attributes,
                    password: PasswordHash::new(&temporary)?,
                    status: UserStatus::ForceChangePassword,
                    enabled: true,
                    created_ms: now,
                    modified_ms: now,
                    pending_code: None,
                    temporary_until_ms: Some(now + TEMPORARY_PASSWORD_DAYS * DAY_MS),
                };
                state
                    .users_mut(&pool.model.id)
                    .insert(username.clone(), user);
                username
            }
        };
        let user = state
            .user(&pool.model.id, &username)
            .ok_or_else(Fault::user_not_found)?;
        let out = json!({"User": describe(user, "Attributes")});
        if action != Some("SUPPRESS") {
            // The invitation: where it would go, by the requested media (SMS by default).
            let order: Vec<&str> = if mediums.is_empty() {
                vec!["phone_number", "email"]
            } else {
                mediums
                    .iter()
                    .map(|m| {
                        if *m == "EMAIL" {
                            "email"
                        } else {
                            "phone_number"
                        }
                    })
                    .collect()
            };
            if let Some(destination) = order.iter().find_map(|a| user.attributes.get(*a)) {
                let sent = SentCode {
                    pool_id: pool.model.id.clone(),
                    username: username.clone(),
                    code: temporary,
                    destination: destination.clone(),
                    kind: SentKind::TemporaryPassword,
                };
                record(&mut state, sent);
            }
        }
        self.store.save(&mut state)?;
        Ok(out)
    }

    pub(crate) fn admin_set_user_password(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let pw = input.required("Password")?;
        let permanent = input.bool("Permanent")?.unwrap_or(false);
        password::check(&pool.model.password_policy, "Password", pw)?;
        let now = self.now_ms();
        let mut state = self.store.lock();
        let user = admin_user(&mut state, pool, login)?;
        user.password = PasswordHash::new(pw)?;
        if permanent {
            user.status = UserStatus::Confirmed;
            user.pending_code = None;
            user.temporary_until_ms = None;
        } else {
            user.status = UserStatus::ForceChangePassword;
            user.temporary_until_ms = Some(now + TEMPORARY_PASSWORD_DAYS * DAY_MS);
        }
        user.modified_ms = now;
        self.store.save(&mut state)?;
        Ok(json!({}))
    }

    pub(crate) fn admin_get_user(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let mut state = self.store.lock();
        let user = admin_user(&mut state, pool, login)?;
        Ok(describe(user, "UserAttributes"))
    }

    pub(crate) fn admin_delete_user(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let mut state = self.store.lock();
        let username = state
            .find_login(&pool.model, login)
            .ok_or_else(Fault::user_not_found)?;
        state.users_mut(&pool.model.id).remove(&username);
        // Nothing the user held may outlive them.
        let pool_id = &pool.model.id;
        state
            .saved
            .refresh_tokens
            .retain(|_, g| !(g.pool_id == *pool_id && g.username == username));
        state
            .sessions
            .retain(|_, s| !(s.pool_id == *pool_id && s.username == username));
        self.store.save(&mut state)?;
        Ok(json!({}))
    }

    pub(crate) fn admin_set_enabled(
        &self,
        input: Input<'_>,
        enabled: bool,
    ) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let login = input.required("Username")?;
        let now = self.now_ms();
        let mut state = self.store.lock();
        let user = admin_user(&mut state, pool, login)?;
        user.enabled = enabled;
        user.modified_ms = now;
        self.store.save(&mut state)?;
        Ok(json!({}))
    }

    /// For `token_for`: the username of a confirmed, enabled user `login`, created if missing.
    pub(crate) fn ensure_confirmed_user(
        &self,
        state: &mut State,
        pool: &Pool,
        login: &str,
    ) -> Result<String, CognitoError> {
        let now = self.now_ms();
        if let Some(username) = state.find_login(&pool.model, login) {
            let user = state
                .user_mut(&pool.model.id, &username)
                .ok_or_else(|| CognitoError::from(Fault::user_not_found()))?;
            if !user.enabled {
                return Err(Fault::not_authorized("User is disabled.").into());
            }
            if user.status != UserStatus::Confirmed {
                user.status = UserStatus::Confirmed;
                user.pending_code = None;
                user.temporary_until_ms = None;
                user.modified_ms = now;
            }
            return Ok(username);
        }
        let mut given = Attributes::new();
        // A plain-username pool still gets the address when the name is one, so the demo
        // user's tokens carry an email claim either way.
        if pool.model.username_attributes.is_empty() && attrs::is_email(login) {
            given.insert("email".into(), login.into());
        }
        let (username, mut attributes) = identity(&pool.model, login, given)?;
        for attr in ["email", "phone_number"] {
            if attributes.contains_key(attr) {
                attributes.insert(format!("{attr}_verified"), "true".into());
            }
        }
        let generated = password::generate(&pool.model.password_policy)?;
        let user = User {
            username: username.clone(),
            attributes,
            password: PasswordHash::new(&generated)?,
            status: UserStatus::Confirmed,
            enabled: true,
            created_ms: now,
            modified_ms: now,
            pending_code: None,
            temporary_until_ms: None,
        };
        state
            .users_mut(&pool.model.id)
            .insert(username.clone(), user);
        Ok(username)
    }

    /// Sends (records) a new confirmation code to the first auto-verified attribute the user
    /// has (the phone before the email, as Cognito prefers SMS), and returns the
    /// `CodeDeliveryDetails`; None when the pool verifies nothing the user has.
    fn send_confirmation(
        &self,
        state: &mut State,
        pool: &UserPool,
        username: &str,
    ) -> Result<Option<Value>, Fault> {
        let now = self.now_ms();
        let Some(user) = state.user_mut(&pool.id, username) else {
            return Ok(None);
        };
        let target = ["phone_number", "email"]
            .into_iter()
            .filter(|a| pool.auto_verified_attributes.iter().any(|v| v == a))
            .find_map(|a| user.attributes.get(a).map(|v| (a, v.clone())));
        let Some((attribute, destination)) = target else {
            return Ok(None);
        };
        let code = random::code()?;
        user.pending_code = Some(PendingCode {
            code: code.clone(),
            attribute: attribute.to_owned(),
            expires_ms: now + CODE_VALIDITY_MS,
        });
        let delivery = json!({
            "Destination": attrs::mask(attribute, &destination),
            "DeliveryMedium": if attribute == "email" { "EMAIL" } else { "SMS" },
            "AttributeName": attribute,
        });
        let sent = SentCode {
            pool_id: pool.id.clone(),
            username: username.to_owned(),
            code,
            destination,
            kind: SentKind::Confirmation,
        };
        record(state, sent);
        Ok(Some(delivery))
    }
}

fn record(state: &mut State, sent: SentCode) {
    if state.sent.len() >= KEEP_SENT {
        state.sent.remove(0);
    }
    state.sent.push(sent);
}

/// The username and attributes (`sub` included) of a new user who signs in as `login`. In a
/// pool with `UsernameAttributes`, `login` must be one of them: it becomes that attribute and
/// the username becomes the `sub`, as Cognito does.
fn identity(
    pool: &UserPool,
    login: &str,
    mut given: Attributes,
) -> Result<(String, Attributes), Fault> {
    let sub = random::uuid()?;
    let username = if pool.username_attributes.is_empty() {
        let plain = (1..=128).contains(&login.chars().count())
            && !login.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plain {
            return Err(Fault::constraint(
                "Username",
                login,
                r"Member must satisfy regular expression pattern: [\p{L}\p{M}\p{S}\p{N}\p{P}]+",
            ));
        }
        login.to_owned()
    } else {
        let allows = |a: &str| pool.username_attributes.iter().any(|x| x == a);
        if allows("email") && attrs::is_email(login) {
            given.insert("email".into(), login.into());
        } else if allows("phone_number") && attrs::is_phone(login) {
            given.insert("phone_number".into(), login.into());
        } else {
            return Err(Fault::invalid_parameter(
                match (allows("email"), allows("phone_number")) {
                    (true, true) => "Username should be either an email or a phone number.",
                    (false, true) => "Username should be a phone number.",
                    _ => "Username should be an email.",
                },
            ));
        }
        sub.clone()
    };
    // An address nobody has verified yet is `false`, which is what tokens then say.
    for attr in ["email", "phone_number"] {
        if given.contains_key(attr) {
            given
                .entry(format!("{attr}_verified"))
                .or_insert_with(|| "false".into());
        }
    }
    given.insert("sub".into(), sub);
    Ok((username, given))
}

fn exists_message(pool: &UserPool, login: &str) -> String {
    if attrs::is_email(login) && pool.username_attributes.iter().any(|a| a == "email") {
        "An account with the given email already exists.".into()
    } else if attrs::is_phone(login) && pool.username_attributes.iter().any(|a| a == "phone_number")
    {
        "An account with the given phone_number already exists.".into()
    } else {
        "User already exists".into()
    }
}

/// The user an administrator names (by username or sign-in attribute).
fn admin_user<'s>(state: &'s mut State, pool: &Pool, login: &str) -> Result<&'s mut User, Fault> {
    let username = state
        .find_login(&pool.model, login)
        .ok_or_else(Fault::user_not_found)?;
    state
        .user_mut(&pool.model.id, &username)
        .ok_or_else(Fault::user_not_found)
}

fn client_user_not_found() -> Fault {
    Fault::new(
        "UserNotFoundException",
        "Username/client id combination not found.",
    )
}

fn cannot_confirm(status: UserStatus) -> Fault {
    Fault::not_authorized(format!(
        "User cannot be confirmed. Current status is {}",
        status.as_str()
    ))
}

/// Compares codes without an early exit.
fn same_code(expected: &str, given: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok()
}

/// A user as AdminGetUser (`UserAttributes`) or AdminCreateUser (`Attributes`) shows one.
pub(crate) fn describe(user: &User, attributes_member: &str) -> Value {
    let mut out = json!({
        "Username": user.username,
        "UserCreateDate": epoch_seconds(user.created_ms),
        "UserLastModifiedDate": epoch_seconds(user.modified_ms),
        "Enabled": user.enabled,
        "UserStatus": user.status.as_str(),
    });
    out[attributes_member] = attrs::list(&user.attributes);
    out
}
