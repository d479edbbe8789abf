"""`make soak`: a seeded, randomized fault-injection soak of the whole system (issue #12, first cut).

Real processes only: mosquitto with the generated config, `alarm-console serve`, `alarm-sim`
shards with the desk units, an observer that records everything, scripted lead clients and a
hostile client. Everything random is drawn from one seed, so a seed replays the same schedule.
After the run `soak.check` checks the invariants over the kept captures and the console's
database. See docs/RELIABILITY.md.
"""
