//! Cognito user pools and app clients.

use super::Builder;
use crate::error::TemplateError;
use crate::intrinsics::RawResource;
use crate::model::{PasswordPolicy, UserPool, UserPoolClient};
use crate::props::Props;

impl Builder<'_, '_> {
    pub(super) fn user_pool(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        if p.child_or_empty("LambdaConfig")?
            .obj
            .values()
            .any(|v| !v.is_null())
        {
            self.warn(
                &res.id,
                "LambdaConfig (Cognito triggers) is not emulated: no trigger function is invoked",
            );
        }
        if p.text("MfaConfiguration")?.as_deref() == Some("ON") {
            self.warn(
                &res.id,
                "MfaConfiguration ON is not emulated: users sign in without a second factor",
            );
        }
        // AWS's defaults when the template sets no password policy (or part of one).
        let policy = p
            .child_or_empty("Policies")?
            .child_or_empty("PasswordPolicy")?;
        let password_policy = PasswordPolicy {
            minimum_length: policy.u32_or("MinimumLength", 8)?,
            require_lowercase: policy.bool_or("RequireLowercase", true)?,
            require_uppercase: policy.bool_or("RequireUppercase", true)?,
            require_numbers: policy.bool_or("RequireNumbers", true)?,
            require_symbols: policy.bool_or("RequireSymbols", true)?,
        };
        let attr = |name: &str| ident.attr(name).unwrap_or_default().to_owned();
        self.stack.user_pools.push(UserPool {
            logical_id: res.id.clone(),
            id: ident.ref_value.clone(),
            name: p
                .text("UserPoolName")?
                .unwrap_or_else(|| crate::names::default_name(&self.r.opts.stack_name, &res.id)),
            arn: attr("Arn"),
            provider_url: attr("ProviderURL"),
            username_attributes: p.texts("UsernameAttributes")?,
            auto_verified_attributes: p.texts("AutoVerifiedAttributes")?,
            password_policy,
        });
        Ok(())
    }

    pub(super) fn user_pool_client(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let units = p.child_or_empty("TokenValidityUnits")?;
        // A validity in its unit (default hours, days for refresh tokens), as seconds.
        let validity = |key: &str, unit_key: &str, default: u32, default_unit: &str| {
            let value = p.u32_or(key, default)?;
            let unit = units.text_or(unit_key, default_unit)?;
            let factor = match unit.as_str() {
                "seconds" => 1,
                "minutes" => 60,
                "hours" => 3_600,
                "days" => 86_400,
                other => {
                    return Err(units.fail(
                        unit_key,
                        format!("must be seconds, minutes, hours or days, got {other}"),
                    ));
                }
            };
            value
                .checked_mul(factor)
                .ok_or_else(|| p.fail(key, "is too large"))
        };
        self.stack.user_pool_clients.push(UserPoolClient {
            logical_id: res.id.clone(),
            id: ident.ref_value.clone(),
            user_pool_id: p.required_text("UserPoolId")?,
            name: ident.attr("Name").unwrap_or_default().into(),
            explicit_auth_flows: p.texts("ExplicitAuthFlows")?,
            generate_secret: p.bool_or("GenerateSecret", false)?,
            access_token_validity: validity("AccessTokenValidity", "AccessToken", 1, "hours")?,
            id_token_validity: validity("IdTokenValidity", "IdToken", 1, "hours")?,
            refresh_token_validity: validity("RefreshTokenValidity", "RefreshToken", 30, "days")?,
        });
        Ok(())
    }
}
