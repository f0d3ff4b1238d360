"""The outbox: every delivery is a row before anything is sent; a dispatcher drains it.

One stage per module, in the order a delivery meets them:

- ``store``: ``enqueue`` writes the notice once and a pending row per planned delivery, in the
  caller's transaction (a bulk insert; the same delivery twice is one row);
- ``dispatcher``: the ``Dispatcher``'s loop (``drain``, ``run_once``, ``next_due``) and one
  message per rate-limited destination; ``batches``: email, many recipients per claim;
  ``sending``: sending one message and recording its outcome on its rows;
- ``claims``: claim, start, give back and renew rows under a token, the lease heartbeat, stale
  claims recovered, the named leases (the waiting drain's);
- ``pacing``: per destination, the token bucket, the Retry-After block and the grouping
  window, kept in the database (``take_token``: an admin's test send under the same limits);
- ``retry``: the retry policy and the reschedule decision;
- ``clock``: the database's clock, the one every worker measures on;
- ``destinations``: stored destination keys resolved to live addresses at send time;
- ``report``: what a drain did, counts per status, pruning.

Guarantees, and how:
- nothing lost: rows are written in the caller's transaction; transient failures (network,
  5xx, SMTP 4xx) come back as pending with exponential backoff (from two seconds) and jitter
  until a maximum number of attempts or an age counted from the first due time, then fail
  with the reason;
- nothing twice: a delivery's key is unique (enqueueing the same notice again is a no-op);
  rows are locked with ``select_for_update(skip_locked)`` and claimed with a token, and every
  later write (sent, failed, retry) is conditional on that token, so two workers never send
  the same row and a worker whose claim expired cannot overwrite a row claimed again;
- a dead worker: claims are short leases (30 s), renewed by a heartbeat while a message or an
  email batch is being sent (a slow mail server keeps its claim); a row whose lease ran out is
  marked 'unknown' (it may have arrived; sending again could duplicate it) and is resolved if
  its worker was only slow and reports after all;
- one clock: claims, lease expiry, the waiting drain's lease and pacing are measured on the
  database's clock (``clock.DatabaseClock``), so app servers whose clocks disagree neither
  steal live claims nor leave dead ones;
- on time: the drain waits in short steps for work due soon, one waiting drain at a time,
  and reports when work is next due so the caller can wake a drain then;
- bounded: a drain stops starting new messages at its deadline; the rest waits for the next;
- rate limits: a token bucket and a Retry-After block per destination, kept in the database so
  every worker shares them; a 429 reschedules, nobody sleeps for long;
- grouping, for every channel (email too): a destination's first notice goes out at once, the
  ones arriving within the grouping interval after a *delivered* message are folded into one
  digest. A failed attempt delivered nothing, so it opens no window: the destination is held
  until the retry (its backoff or Retry-After), and whatever was queued for it meanwhile rides
  along in the retry's message;
- channels without a rate limit (email) are sent in batches: one claim, one lookup of the
  recipients and one connection for many messages.

Nothing is imported here: importing a stage (``outbox.clock``, say) loads only what it needs.
"""
