"""The console's pure view-model: received messages + inventory + now -> what the screens show.

No Textual, no MQTT, no clock (an import contract keeps it so): `received.Received` accumulates
what the broker delivered (each `with_*` returns a new instance); `context.Ctx` holds what does
not change (inventory, who I am, language, time zone); `alarms`, `status`, `units`, `history`
and `presence` turn them into frozen rows, the banner, the red bar and warnings; `replies` words
the answers to my commands; `snapshot` builds everything every screen shows at one instant.
Everything here is unit-tested without a terminal.
"""
