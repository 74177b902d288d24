//! The network between clients (producer, workers) and the broker: each API
//! call may lose its request (nothing happens at the broker) or its response
//! (the broker acted, the caller thinks it failed), and each leg has a latency.

use crate::duration::Nanos;
use crate::rng::{chance, Stream};
use crate::scenario::{ApiKind, Network};

/// What the network does to one call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call {
    pub request_lost: bool,
    pub response_lost: bool,
    /// Request leg latency.
    pub up_ns: Nanos,
    /// Response leg latency.
    pub down_ns: Nanos,
}

pub struct Net {
    cfg: Network,
    rng: Stream,
    ideal: bool,
}

impl Net {
    pub fn new(cfg: Network, rng: Stream) -> Net {
        let ideal = cfg.is_ideal();
        Net { cfg, rng, ideal }
    }

    /// Draw the fate of one call of `kind`. On an ideal network no draw is made.
    #[inline]
    pub fn call(&mut self, kind: ApiKind) -> Call {
        if self.ideal {
            return Call::default();
        }
        let link = &mut self.cfg.links[kind as usize];
        let request_lost = chance(&mut self.rng, link.request_loss);
        let up_ns = link.latency.sample(&mut self.rng);
        let response_lost = !request_lost && chance(&mut self.rng, link.response_loss);
        let down_ns = link.latency.sample(&mut self.rng);
        Call { request_lost, response_lost, up_ns, down_ns }
    }

    /// How long a caller waits before it treats a call as failed.
    pub fn timeout_ns(&self) -> Nanos {
        self.cfg.timeout_ns
    }
}
