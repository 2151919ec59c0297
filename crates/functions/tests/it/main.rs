//! Handler tests: real event payloads in, the runtime's JSON out, against a real DynamoDB
//! engine (dynoxide) and HTTP fakes of the other AWS APIs.

mod clicks;
mod links;
mod moderation;
mod pre_traffic;
mod support;
mod template_contract;
mod websocket;
