//! The producer: arrivals (constant, Poisson or scripted), sends over the
//! network to a queue or a publish to a topic, and retries of calls whose
//! request or response was lost, or that a FIFO queue throttled. A retry
//! after a lost response makes a producer duplicate: a second message with a
//! new id and the same logical key (unless a deduplication interval removes it).

use crate::broker::SendOutcome;
use crate::dist::exp1;
use crate::duration::{from_secs_f64, Nanos};
use crate::rng::Stream;
use crate::scenario::{ApiKind, Arrival, Scenario, Target};
use crate::sim::{Event, World};

/// A send in progress (only while the network makes it asynchronous).
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    key: u64,
    first_send_ns: Nanos,
    call_start_ns: Nanos,
    retries: u32,
    accepted: bool,
    response_lost: bool,
    down_ns: Nanos,
}

pub struct Producer {
    arrival: Arrival,
    target: Target,
    limit: Option<u64>,
    until_ns: Option<Nanos>,
    max_retries: u32,
    delay_ns: Nanos,
    payload_chunks: u64,
    payload_bytes: u64,
    produced: u64,
    done: bool,
    rng: Stream,
    pending: Vec<Pending>,
    free: Vec<u32>,
    in_use: usize,
}

impl Producer {
    /// Bytes held by sends in progress, for the memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        crate::limits::bytes_of::<Pending>(self.pending.capacity())
            + crate::limits::bytes_of::<u32>(self.free.capacity())
    }

    pub fn new(s: &Scenario, rng: Stream) -> Producer {
        let limit = match &s.producer.arrival {
            Arrival::Scripted { at_ns } => {
                Some(s.run.messages.map_or(at_ns.len() as u64, |m| m.min(at_ns.len() as u64)))
            }
            _ => s.run.messages,
        };
        Producer {
            arrival: s.producer.arrival.clone(),
            target: s.producer.target,
            limit,
            until_ns: s.run.duration_ns,
            max_retries: s.producer.max_send_retries,
            delay_ns: s.producer.delay_ns,
            payload_chunks: s.producer.payload_bytes.div_ceil(64 * 1024).max(1),
            payload_bytes: s.producer.payload_bytes,
            produced: 0,
            done: false,
            rng,
            pending: Vec::new(),
            free: Vec::new(),
            in_use: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// Sends still waiting for an answer.
    pub fn pending(&self) -> usize {
        self.in_use
    }

    pub fn produced(&self) -> u64 {
        self.produced
    }

    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// Requests billed per send.
    pub fn payload_chunks(&self) -> u64 {
        self.payload_chunks
    }

    /// Time of the arrival after the `produced`-th, if any.
    fn next_arrival(&mut self, now: Nanos) -> Option<Nanos> {
        if self.limit.is_some_and(|l| self.produced >= l) {
            return None;
        }
        let t = match &self.arrival {
            Arrival::Constant { interval_ns } => now + interval_ns,
            Arrival::Poisson { rate_per_s } => now + from_secs_f64(exp1(&mut self.rng) / rate_per_s),
            Arrival::Scripted { at_ns } => *at_ns.get(self.produced as usize)?,
        };
        match self.until_ns {
            Some(until) if t >= until => None,
            _ => Some(t),
        }
    }

    fn first_arrival(&self) -> Nanos {
        match &self.arrival {
            Arrival::Scripted { at_ns } => at_ns[0],
            _ => 0,
        }
    }

    fn alloc(&mut self, p: Pending) -> u32 {
        self.in_use += 1;
        match self.free.pop() {
            Some(i) => {
                self.pending[i as usize] = p;
                i
            }
            None => {
                self.pending.push(p);
                (self.pending.len() - 1) as u32
            }
        }
    }

    pub fn release(&mut self, p: u32) {
        self.in_use -= 1;
        self.free.push(p);
    }
}

impl World {
    pub(crate) fn on_produce(&mut self) {
        let now = self.now();
        if self.producer.produced == 0 && now < self.producer.first_arrival() {
            self.ev.at_solo(self.producer.first_arrival(), Event::Produce);
            return;
        }
        let key = self.producer.produced;
        self.producer.produced += 1;
        let p = Pending { key, first_send_ns: now, ..Pending::default() };
        self.send_attempt(p, None);
        match self.producer.next_arrival(now) {
            Some(t) => self.ev.at_solo(t, Event::Produce),
            None => self.producer.done = true,
        }
    }

    /// One SendMessage call; `slot` is the pending entry of a retry.
    fn send_attempt(&mut self, mut p: Pending, slot: Option<u32>) {
        let call = self.net.call(ApiKind::Send);
        let now = self.now();
        p.call_start_ns = now;
        p.response_lost = call.response_lost;
        p.down_ns = call.down_ns;
        let synchronous = !call.request_lost && call.up_ns == 0 && !call.response_lost && call.down_ns == 0;
        if synchronous && slot.is_none() {
            if self.accept_send(&mut p) {
                return;
            }
            let i = self.producer.alloc(p);
            let retry = self.throttle_retry_ns();
            self.ev.after(retry, Event::SendLost { p: i });
            return;
        }
        let i = match slot {
            Some(i) => {
                self.producer.pending[i as usize] = p;
                i
            }
            None => self.producer.alloc(p),
        };
        if call.request_lost {
            self.ev.after(self.net.timeout_ns(), Event::SendLost { p: i });
        } else if call.up_ns == 0 {
            self.on_send_at_broker(i);
        } else {
            self.ev.after(call.up_ns, Event::SendAtBroker { p: i });
        }
    }

    /// The call reaches the queue or topic: false if a FIFO queue throttled it.
    #[inline(always)]
    fn accept_send(&mut self, p: &mut Pending) -> bool {
        match self.producer.target {
            Target::Queue(q) => {
                let delay = self.producer.delay_ns;
                let outcome =
                    self.brokers[q].send(&mut self.ev, &mut self.obs, p.key, p.first_send_ns, delay, p.accepted);
                if outcome == SendOutcome::Throttled {
                    return false;
                }
                self.obs.m[q].api.count_send(self.producer.payload_chunks);
            }
            Target::Topic(t) => self.publish(t, p.key, p.first_send_ns, p.accepted),
            Target::Subject => {
                for q in 0..self.brokers.len() {
                    let nats = &self.brokers[q].config().nats;
                    let kind = self.brokers[q].config().kind;
                    // A subscription hears only subjects it matches; a stream counts what it missed.
                    if kind == crate::scenario::QueueKind::NatsCore && !nats.captures_producer {
                        continue;
                    }
                    if kind == crate::scenario::QueueKind::JetStream || kind == crate::scenario::QueueKind::NatsCore {
                        self.brokers[q].send(&mut self.ev, &mut self.obs, p.key, p.first_send_ns, 0, p.accepted);
                        self.obs.m[q].api.count_send(self.producer.payload_chunks);
                    }
                }
            }
        }
        p.accepted = true;
        true
    }

    /// How long the producer's client waits before retrying a throttled send.
    fn throttle_retry_ns(&self) -> Nanos {
        match self.producer.target {
            Target::Queue(q) => self.brokers[q].throttle_retry_ns(),
            Target::Topic(_) | Target::Subject => 0,
        }
    }

    pub(crate) fn on_send_at_broker(&mut self, i: u32) {
        let mut p = self.producer.pending[i as usize];
        let accepted = self.accept_send(&mut p);
        self.producer.pending[i as usize] = p;
        let now = self.now();
        if !accepted {
            // ThrottlingException: the error reaches the client, which retries after its backoff.
            let at = now + p.down_ns + self.throttle_retry_ns();
            self.ev.at(at, Event::SendLost { p: i });
        } else if p.response_lost {
            let at = (p.call_start_ns + self.net.timeout_ns()).max(now);
            self.ev.at(at, Event::SendLost { p: i });
        } else if p.down_ns == 0 {
            self.producer.release(i);
        } else {
            self.ev.after(p.down_ns, Event::SendAck { p: i });
        }
    }

    pub(crate) fn on_send_lost(&mut self, i: u32) {
        let mut p = self.producer.pending[i as usize];
        if p.retries >= self.producer.max_retries {
            if !p.accepted {
                match self.producer.target {
                    Target::Queue(q) => self.obs.m[q].send_gave_up += 1,
                    Target::Topic(t) => self.topics[t].stats.gave_up += 1,
                    Target::Subject => self.obs.m[0].send_gave_up += 1,
                }
            }
            self.producer.release(i);
            return;
        }
        p.retries += 1;
        self.send_attempt(p, Some(i));
    }
}
