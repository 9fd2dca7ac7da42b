//! Per-key rate limits (seed 003): a GCRA bucket per (key, class) from `governor`, refilled
//! continuously, so `limit` calls a minute pass and a burst of up to `limit` is allowed. Every
//! authenticated response says where its caller stands (`X-RateLimit-Limit`,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` = the Unix time the bucket is full again);
//! over the limit is `429 RATE_LIMITED` with `retryAfter` and `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::perm::RateClass;
use crate::error::{ApiError, ErrorCode};
use crate::settings::RateLimitSettings;

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One bucket kind: its per-minute limit and the buckets by key.
struct Bucket {
    per_min: u32,
    limiter: Keyed,
}

impl Bucket {
    fn new(per_min: u32) -> Option<Bucket> {
        let n = NonZeroU32::new(per_min)?;
        Some(Bucket {
            per_min,
            limiter: RateLimiter::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>(),
        })
    }
}

/// What a response tells its caller about its bucket.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Unix time at which the bucket is full again.
    pub reset: i64,
}

/// The service's rate limiters.
pub struct RateLimits {
    chat: Option<Bucket>,
    read: Option<Bucket>,
    write: Option<Bucket>,
    sign_in: Option<Bucket>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(s: &RateLimitSettings) -> RateLimits {
        RateLimits {
            chat: Bucket::new(s.chat_per_min),
            read: Bucket::new(s.read_per_min),
            write: Bucket::new(s.write_per_min),
            sign_in: Bucket::new(s.sign_in_per_min),
            clock: DefaultClock::default(),
        }
    }

    /// Take one call from `key`'s bucket of `class` for `req` (noting where it stands for the
    /// response headers); `429` when the bucket is empty. Unlimited classes always pass.
    pub fn enforce(&self, req: &HttpRequest, class: RateClass, key: &str) -> Result<(), ApiError> {
        let bucket = match class {
            RateClass::Chat => self.chat.as_ref(),
            RateClass::Read => self.read.as_ref(),
            RateClass::Write => self.write.as_ref(),
        };
        self.enforce_in(req, bucket, key)
    }

    /// Sign-up and sign-in attempts, per client address (password guessing).
    pub fn enforce_sign_in(&self, req: &HttpRequest, address: &str) -> Result<(), ApiError> {
        self.enforce_in(req, self.sign_in.as_ref(), address)
    }

    fn enforce_in(
        &self,
        req: &HttpRequest,
        bucket: Option<&Bucket>,
        key: &str,
    ) -> Result<(), ApiError> {
        let Some(bucket) = bucket else {
            return Ok(());
        };
        match self.take(bucket, key) {
            Ok(info) => {
                note(req, info);
                Ok(())
            }
            Err((info, err)) => {
                note(req, info);
                Err(err)
            }
        }
    }

    fn take(&self, bucket: &Bucket, key: &str) -> Result<RateInfo, (RateInfo, ApiError)> {
        let now = chrono::Utc::now().timestamp();
        let per_call = 60.0 / f64::from(bucket.per_min);
        match bucket.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = (f64::from(bucket.per_min - remaining) * per_call).ceil() as i64;
                Ok(RateInfo {
                    limit: bucket.per_min,
                    remaining,
                    reset: now + refill,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let info = RateInfo {
                    limit: bucket.per_min,
                    remaining: 0,
                    reset: now + 60,
                };
                Err((
                    info,
                    ApiError::new(
                        ErrorCode::RateLimited,
                        format!(
                            "rate limit of {} calls a minute reached; retry in {} s",
                            bucket.per_min,
                            retry.max(1)
                        ),
                    )
                    .retry_after(retry.max(1)),
                ))
            }
        }
    }

    /// Drop idle buckets (a full bucket is the same as none); run now and then.
    pub fn sweep(&self) {
        for bucket in [&self.chat, &self.read, &self.write, &self.sign_in]
            .into_iter()
            .flatten()
        {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }

    /// Sweep every minute for as long as the service runs.
    pub fn spawn_sweeper(self: &std::sync::Arc<Self>) {
        let weak = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.sweep();
            }
        });
    }
}

/// Remember a request's bucket so [`headers`] can report it.
fn note(req: &HttpRequest, info: RateInfo) {
    req.extensions_mut().insert(info);
}

/// Middleware: add the `X-RateLimit-*` headers to every response whose request drew from a
/// bucket (authenticated calls, and sign-in attempts), errors and `429` included.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let info = res.request().extensions().get::<RateInfo>().copied();
    if let Some(info) = info {
        let h = res.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", info.limit.to_string()),
            ("x-ratelimit-remaining", info.remaining.to_string()),
            ("x-ratelimit-reset", info.reset.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(HeaderName::from_static(name), v);
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_min: u32) -> RateLimits {
        RateLimits::new(&RateLimitSettings {
            chat_per_min: per_min,
            read_per_min: per_min,
            write_per_min: 0,
            sign_in_per_min: per_min,
        })
    }

    #[test]
    fn buckets_are_per_key_and_per_class_and_unlimited_classes_pass() {
        let l = limits(2);
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert!(l.enforce(&req, RateClass::Read, "a").is_ok());
        assert!(l.enforce(&req, RateClass::Read, "a").is_ok());
        let err = l.enforce(&req, RateClass::Read, "a").unwrap_err();
        assert_eq!(err.code, ErrorCode::RateLimited);
        let retry = err.retry_after.unwrap();
        assert!(
            (1..=30).contains(&retry),
            "one call refills in 30 s: {retry}"
        );
        let info = *req.extensions().get::<RateInfo>().unwrap();
        assert_eq!((info.limit, info.remaining), (2, 0));
        assert!(l.enforce(&req, RateClass::Read, "b").is_ok(), "another key");
        assert!(
            l.enforce(&req, RateClass::Chat, "a").is_ok(),
            "another class"
        );
        for _ in 0..100 {
            assert!(
                l.enforce(&req, RateClass::Write, "a").is_ok(),
                "0 = unlimited"
            );
        }
    }

    /// What a check costs (printed; run with `--nocapture`).
    #[test]
    fn a_check_is_cheap() {
        let l = limits(u32::MAX / 2);
        let req = actix_web::test::TestRequest::default().to_http_request();
        let n = 20_000;
        let t = std::time::Instant::now();
        for i in 0..n {
            l.enforce(&req, RateClass::Read, if i % 2 == 0 { "k1" } else { "k2" })
                .unwrap();
        }
        let per = t.elapsed() / n;
        println!("rate-limit check + header note: {per:?} per call ({n} calls)");
        assert!(per < std::time::Duration::from_millis(1), "{per:?}");
    }
}
