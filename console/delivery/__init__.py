"""Delivery: one pipeline that reaches people on every channel (docs/DELIVERY.md).

The cores decide (a `Notified` fact and its `Notify` effect; `Page` effects for lead pager
units); the service shell renders, stores the console's copies in the outbox, and hands
every delivery to one `Dispatcher` after the commit. Every channel implements one protocol
(`channel.Channel`) and gets the same worker: a queue, retries with back-off, give-up, an
outcome per attempt (`delivery_attempt` facts) and a fault when it keeps failing.

- `channel`: the `Delivery`, the `Channel` protocol, retry policies, outcomes, errors, clock
- `dispatcher`: routing by the person's channels for the level, and `build_dispatcher`
- `worker`: one channel's queue, retries, give-up, outcomes and fault state
- `mqtt`: the console (`person/<id>/notify`, durable) and the lead pager unit (`PageCmd`)
- `mail`, `apprise_channel`: e-mail over SMTP, and chat / push / SMS through Apprise
- `render`, `texts`: the `Notification` per person, and the e-mail / chat texts (pure)
- `secrets`: secrets by reference, and their redaction from reasons and logs
- `fanout`, `journal`: the fan-out process (`alarm-console fanout`) that sends e-mail and
  Apprise for the service, its JSON-lines protocol, and its attempt journal

Modules are imported by name (this package re-exports nothing, so rendering a notification
does not load SMTP or Apprise).
"""
