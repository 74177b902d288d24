//! Consumers of a queue other than the plain polling workers of `worker.rs`,
//! and the pieces of one attempt at one message that every consumer shares.
//!
//! - `attempt.rs`: a handler step's duration and outcome, the failure decided
//!   at the end of the last step (poison keys, handler errors), the
//!   idempotency check at the start and the effect's commit (docs/model.md
//!   sections 5 and 6). `worker.rs` and `lambda.rs` both use them, so a
//!   message is handled the same way whoever holds it.
//! - `lambda.rs`: AWS Lambda functions fed by an SQS event source mapping
//!   (`[[functions]]`, docs/model.md "Lambda event source mapping").

pub mod attempt;
pub mod lambda;
