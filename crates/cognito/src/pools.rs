//! Reading the pools and clients the template declares (they cannot be changed here: the
//! template is the only wiring).

use crate::error::Fault;
use crate::input::{Input, page};
use crate::{Cognito, epoch_seconds};
use serde_json::{Value, json};
use template::model::UserPoolClient;

/// Cognito's default for `TemporaryPasswordValidityDays`, which the model does not carry.
pub(crate) const TEMPORARY_PASSWORD_DAYS: i64 = 7;

impl Cognito {
    pub(crate) fn list_user_pools(&self, input: Input<'_>) -> Result<Value, Fault> {
        let max = input
            .int("MaxResults", 1, 60)?
            .ok_or_else(|| Fault::missing("MaxResults"))? as usize;
        let (pools, next) = page(&self.pools, max, input.str("NextToken")?)?;
        let created = epoch_seconds(self.created_ms);
        let mut out = json!({"UserPools": pools.iter().map(|p| json!({
            "Id": p.model.id,
            "Name": p.model.name,
            "LambdaConfig": {},
            "CreationDate": created,
            "LastModifiedDate": created,
        })).collect::<Vec<_>>()});
        if let Some(next) = next {
            out["NextToken"] = json!(next);
        }
        Ok(out)
    }

    pub(crate) fn list_user_pool_clients(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let max = input.int("MaxResults", 1, 60)?.unwrap_or(60) as usize;
        let (clients, next) = page(&pool.clients, max, input.str("NextToken")?)?;
        let mut out = json!({"UserPoolClients": clients.iter().map(|c| json!({
            "ClientId": c.id,
            "UserPoolId": c.user_pool_id,
            "ClientName": c.name,
        })).collect::<Vec<_>>()});
        if let Some(next) = next {
            out["NextToken"] = json!(next);
        }
        Ok(out)
    }

    pub(crate) fn describe_user_pool(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let m = &pool.model;
        let users = self.store.lock().users(&m.id).map_or(0, |u| u.len());
        let created = epoch_seconds(self.created_ms);
        Ok(json!({"UserPool": {
            "Id": m.id,
            "Name": m.name,
            "Arn": m.arn,
            "Policies": {"PasswordPolicy": {
                "MinimumLength": m.password_policy.minimum_length,
                "RequireUppercase": m.password_policy.require_uppercase,
                "RequireLowercase": m.password_policy.require_lowercase,
                "RequireNumbers": m.password_policy.require_numbers,
                "RequireSymbols": m.password_policy.require_symbols,
                "TemporaryPasswordValidityDays": TEMPORARY_PASSWORD_DAYS,
            }},
            "DeletionProtection": "INACTIVE",
            "LambdaConfig": {},
            "LastModifiedDate": created,
            "CreationDate": created,
            "UsernameAttributes": m.username_attributes,
            "AutoVerifiedAttributes": m.auto_verified_attributes,
            "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE"},
            "MfaConfiguration": "OFF",
            "EstimatedNumberOfUsers": users,
            "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
            "AdminCreateUserConfig": {
                "AllowAdminCreateUserOnly": false,
                "UnusedAccountValidityDays": TEMPORARY_PASSWORD_DAYS,
            },
            "UserPoolTags": {},
        }}))
    }

    pub(crate) fn describe_user_pool_client(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let (_, client) = self.client(input)?;
        // A client of another pool is as unknown as a missing one.
        if client.user_pool_id != pool.model.id {
            return Err(Fault::new(
                "ResourceNotFoundException",
                format!("User pool client {} does not exist.", client.id),
            ));
        }
        Ok(json!({"UserPoolClient": describe_client(client, epoch_seconds(self.created_ms))}))
    }
}

fn describe_client(c: &UserPoolClient, created: f64) -> Value {
    let (access, access_unit) = in_units(c.access_token_validity);
    let (id, id_unit) = in_units(c.id_token_validity);
    let (refresh, refresh_unit) = in_units(c.refresh_token_validity);
    json!({
        "UserPoolId": c.user_pool_id,
        "ClientName": c.name,
        "ClientId": c.id,
        "LastModifiedDate": created,
        "CreationDate": created,
        "RefreshTokenValidity": refresh,
        "AccessTokenValidity": access,
        "IdTokenValidity": id,
        "TokenValidityUnits": {"AccessToken": access_unit, "IdToken": id_unit, "RefreshToken": refresh_unit},
        "ExplicitAuthFlows": c.explicit_auth_flows,
        "AllowedOAuthFlowsUserPoolClient": false,
        "PreventUserExistenceErrors": "ENABLED",
        "EnableTokenRevocation": true,
        "EnablePropagateAdditionalUserContextData": false,
        "AuthSessionValidity": 3,
    })
}

/// Seconds (the model's unit) in the largest unit that divides them, as a template would
/// have written them.
fn in_units(secs: u32) -> (u32, &'static str) {
    for (unit, size) in [("days", 86_400), ("hours", 3_600), ("minutes", 60)] {
        if secs != 0 && secs.is_multiple_of(size) {
            return (secs / size, unit);
        }
    }
    (secs, "seconds")
}

#[cfg(test)]
mod tests {
    use super::in_units;

    #[test]
    fn validity_units() {
        assert_eq!(in_units(3_600), (1, "hours"));
        assert_eq!(in_units(2_592_000), (30, "days"));
        assert_eq!(in_units(300), (5, "minutes"));
        assert_eq!(in_units(90), (90, "seconds"));
    }
}
