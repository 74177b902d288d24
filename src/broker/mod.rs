//! Brokers: the queue services that hold messages and lease them to workers.
//!
//! `sqs.rs` models an SQS Standard queue (docs/model.md, "SQS Standard"). A new
//! broker gets a module here with the same vocabulary: [`Handle`] for a
//! receipt, [`Fate`] for what became of the previous delivery, and the
//! receive, change-visibility and delete operations `sim.rs` calls.

pub mod sqs;

/// A receipt handle: a message and the receive that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handle {
    pub id: u64,
    pub receive: u32,
}

/// What became of a message's most recent delivery; decides the cause of the
/// next redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never delivered.
    New,
    /// The holder is still working on it.
    Processing,
    /// The attempt failed or released the message.
    Failed,
    /// The holder crashed (or died before the receive reached it).
    Crashed,
    /// The attempt succeeded; the delete was lost, rejected or late.
    Succeeded,
    /// The receive response was lost: nobody got this delivery.
    ReceiveLost,
    /// A replica missed the delete.
    BrokerDuplicate,
}

/// One message handed out by a receive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    pub handle: Handle,
    pub key: u64,
    pub first_send_ns: u64,
}

/// Up to ten messages from one receive (no allocation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch {
    pub len: usize,
    pub items: [Delivery; 10],
}

impl Batch {
    pub fn push(&mut self, d: Delivery) {
        self.items[self.len] = d;
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[Delivery] {
        &self.items[..self.len]
    }
}

/// Outcome of a DeleteMessage call at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// Accepted, but the handle was stale and the message stays (latest_only).
    StaleKept,
    /// The message was already gone.
    Gone,
    /// Rejected: ReceiptHandleIsInvalid (strict).
    Rejected,
}

/// Outcome of a ChangeMessageVisibility call at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The lease now ends at the requested time (or the message is visible).
    Changed,
    /// Changed, with an older handle than the newest (`any_handle`): the
    /// lease of the current holder moved.
    ChangedByOlderHandle,
    /// Nothing changed: an older handle under `latest_only`.
    Stale,
    /// Nothing changed: the message is visible again (its lease ended).
    LeaseEnded,
    /// Nothing changed: the message was deleted, moved to the DLQ or expired.
    Gone,
    /// Rejected: would hide the message past 12 h after its latest receive.
    Rejected,
}

impl ChangeOutcome {
    pub fn changed(self) -> bool {
        matches!(self, ChangeOutcome::Changed | ChangeOutcome::ChangedByOlderHandle)
    }

    /// The trace detail: why nothing changed, or that an older handle acted.
    pub fn reason(self) -> &'static str {
        match self {
            ChangeOutcome::Changed => "",
            ChangeOutcome::ChangedByOlderHandle => "older handle",
            ChangeOutcome::Stale => "stale handle",
            ChangeOutcome::LeaseEnded => "lease already ended",
            ChangeOutcome::Gone => "message gone",
            ChangeOutcome::Rejected => "over 12h",
        }
    }
}
