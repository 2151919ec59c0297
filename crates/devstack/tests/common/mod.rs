//! What the test binaries share.

/// An AWS SDK configuration pointed at devstack's edge `edge`, with the dummy static
/// credentials the SDK needs to sign (devstack checks the shape of a signature, not its key).
pub async fn sdk_config(edge: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "x", "y", None, None, "test",
        ))
        .endpoint_url(edge)
        .load()
        .await
}
