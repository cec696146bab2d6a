//! Bounded concurrency for binding calls on the single-threaded Workers runtime (no executor, no
//! crate): run fallible futures with at most `limit` in flight, in order of start. Pure; the
//! native tests drive it with futures that pend.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Runs every future from `futures` with at most `limit` (>= 1) in flight and returns their
/// outputs in input order, or the first error. After an error no further future is started;
/// the ones already in flight are dropped (a binding call dropped midway is a retry's business,
/// as for any failed request).
pub async fn try_join_limited<T, E, F>(
    futures: impl IntoIterator<Item = F>,
    limit: usize,
) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut pending = futures.into_iter().enumerate();
    let limit = limit.max(1);
    let mut running: Vec<(usize, Pin<Box<F>>)> = Vec::with_capacity(limit);
    let mut done: Vec<Option<T>> = Vec::new();
    let mut exhausted = false;
    poll_fn(|cx| loop {
        while !exhausted && running.len() < limit {
            match pending.next() {
                Some((i, f)) => {
                    running.push((i, Box::pin(f)));
                    done.push(None);
                }
                None => exhausted = true,
            }
        }
        let mut progressed = false;
        let mut k = 0;
        while k < running.len() {
            match running[k].1.as_mut().poll(cx) {
                Poll::Ready(Ok(v)) => {
                    let (i, _) = running.swap_remove(k);
                    done[i] = Some(v);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => k += 1,
            }
        }
        if running.is_empty() && exhausted {
            // Every slot is filled before its future leaves `running`, and none is left.
            let out = std::mem::take(&mut done).into_iter().map(|v| v.expect("all done")); // ok: above
            return Poll::Ready(Ok(out.collect()));
        }
        if !progressed {
            return Poll::Pending;
        }
        // Something finished: start the next ones and poll them now.
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::pin;
    use std::task::{Context, Waker};

    /// Pends `n` times (waking itself), then yields its value; counts how many run at once.
    struct Step<'a> {
        n: u32,
        value: Result<u32, u32>,
        live: &'a Cell<usize>,
        peak: &'a Cell<usize>,
        started: bool,
    }

    impl Future for Step<'_> {
        type Output = Result<u32, u32>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if !self.started {
                self.started = true;
                self.live.set(self.live.get() + 1);
                self.peak.set(self.peak.get().max(self.live.get()));
            }
            if self.n == 0 {
                self.live.set(self.live.get() - 1);
                return Poll::Ready(self.value);
            }
            self.n -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..1_000_000 {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
        panic!("did not finish");
    }

    #[test]
    fn outputs_keep_input_order_and_concurrency_stays_bounded() {
        for limit in [1, 2, 3, 8, 100] {
            let (live, peak) = (Cell::new(0), Cell::new(0));
            let steps = (0..20u32).map(|i| Step {
                n: (i * 7) % 5,
                value: Ok(i),
                live: &live,
                peak: &peak,
                started: false,
            });
            let out = block_on(try_join_limited(steps, limit)).unwrap();
            assert_eq!(out, (0..20).collect::<Vec<_>>(), "limit {limit}");
            assert!(peak.get() <= limit.min(20), "limit {limit}: peak {}", peak.get());
            assert!(limit == 1 || peak.get() > 1, "limit {limit}: ran one at a time");
            assert_eq!(live.get(), 0);
        }
    }

    #[test]
    fn the_first_error_wins_and_nothing_more_starts() {
        let (live, peak) = (Cell::new(0), Cell::new(0));
        let started = Cell::new(0);
        let steps = (0..50u32).map(|i| {
            started.set(started.get() + 1);
            Step {
                n: 3,
                value: if i == 5 { Err(i) } else { Ok(i) },
                live: &live,
                peak: &peak,
                started: false,
            }
        });
        assert_eq!(block_on(try_join_limited(steps, 4)), Err(5));
        assert!(started.get() < 50, "stopped starting after the error ({})", started.get());
    }

    #[test]
    fn empty_input_and_zero_limit() {
        let none: Vec<std::future::Ready<Result<u8, ()>>> = Vec::new();
        assert_eq!(block_on(try_join_limited(none, 4)), Ok(vec![]));
        let one = vec![std::future::ready(Ok::<u8, ()>(7))];
        assert_eq!(block_on(try_join_limited(one, 0)), Ok(vec![7]), "a limit of 0 still runs one at a time");
    }
}
