//! Quotas: a token bucket per client (API key, token subject or IP address), refilled at the
//! client's calls per second with bursts of one second's worth, in integer thousandths so no
//! float enters. The table holds at most `clients_max` clients: when full, buckets idle for a
//! while (full again, so forgetting them changes nothing) are swept, and if none is, the new
//! client shares one overflow bucket at the lowest quota rather than growing the table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket untouched this long is full again and can be forgotten.
const IDLE: Duration = Duration::from_secs(10);

struct Bucket {
    per_second: u64,
    available_milli: u64,
    last: Instant,
}

impl Bucket {
    fn new(per_second: u64, now: Instant) -> Self {
        Self {
            per_second,
            available_milli: per_second * 1000,
            last: now,
        }
    }

    /// Takes `n` calls, or says how long until they are available.
    fn take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis() as u64;
        self.last = now;
        let capacity = self.per_second * 1000;
        self.available_milli = self
            .available_milli
            .saturating_add(elapsed_ms.saturating_mul(self.per_second))
            .min(capacity);
        let wanted = n.saturating_mul(1000).min(capacity);
        if self.available_milli >= wanted {
            self.available_milli -= wanted;
            Ok(())
        } else {
            let missing = wanted - self.available_milli;
            Err(Duration::from_millis(
                missing.div_ceil(self.per_second).max(1),
            ))
        }
    }
}

/// What a bucket is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An API key or token subject.
    Principal(String),
    /// Anonymous callers from one address.
    Anonymous(std::net::IpAddr),
    /// Everyone calling from one address.
    Ip(std::net::IpAddr),
}

pub struct RateLimiter {
    clients_max: usize,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
    overflow: Mutex<Option<Bucket>>,
}

impl RateLimiter {
    pub fn new(clients_max: usize) -> Self {
        Self {
            clients_max: clients_max.max(1),
            buckets: Mutex::new(HashMap::new()),
            overflow: Mutex::new(None),
        }
    }

    /// Takes `calls` from `key`'s bucket of `per_second` (0: unlimited). `Err` is the time to
    /// wait before retrying.
    pub fn take(&self, key: ClientKey, per_second: u32, calls: u64) -> Result<(), Duration> {
        if per_second == 0 {
            return Ok(());
        }
        let per_second = u64::from(per_second);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= self.clients_max {
            buckets.retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
        }
        if buckets.len() < self.clients_max || buckets.contains_key(&key) {
            let bucket = buckets
                .entry(key)
                .or_insert_with(|| Bucket::new(per_second, now));
            // A role's quota may change when a key is replaced; the new quota applies at once.
            bucket.per_second = per_second;
            return bucket.take(calls, now);
        }
        drop(buckets);
        let mut overflow = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = overflow.get_or_insert_with(|| Bucket::new(per_second, now));
        bucket.per_second = bucket.per_second.min(per_second);
        bucket.take(calls, now)
    }

    pub fn clients(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_quota_and_says_when_to_retry() {
        let now = Instant::now();
        let mut b = Bucket::new(10, now);
        for _ in 0..10 {
            assert!(b.take(1, now).is_ok());
        }
        let wait = b.take(1, now).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert!(b.take(1, now + Duration::from_millis(100)).is_ok());
        // A batch larger than the burst waits for a full bucket, never forever.
        let mut b = Bucket::new(2, now);
        assert!(b.take(5, now).is_ok());
        assert!(b.take(1, now).is_err());
    }

    #[test]
    fn the_table_is_bounded_and_zero_is_unlimited() {
        let limiter = RateLimiter::new(2);
        for i in 0..5u8 {
            let ip = std::net::IpAddr::from([10, 0, 0, i]);
            let _ = limiter.take(ClientKey::Ip(ip), 1, 1);
        }
        assert_eq!(limiter.clients(), 2);
        // Clients beyond the table share the overflow bucket (1 call a second, used up above).
        let ip = std::net::IpAddr::from([10, 0, 0, 9]);
        assert!(limiter.take(ClientKey::Ip(ip), 1, 1).is_err());
        for _ in 0..1000 {
            assert!(limiter.take(ClientKey::Principal("k".into()), 0, 1).is_ok());
        }
    }
}
