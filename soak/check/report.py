"""The report: a table of the invariants and, for each violation, the events around it."""

from __future__ import annotations

from collections.abc import Iterable

from soak.check.run import Result, Run, Violation, clock


def _contexts(run: Run, vs: list[Violation], n: int = 12) -> list[list[str]]:
    """The recorded events around each violation (one pass over the capture for all of them)."""
    rows: list[list[tuple[float, str]]] = [[] for _ in vs]
    for x in run.sim:
        for i, v in enumerate(vs):
            if x.get("unit") in v.keys or x.get("event_id") in v.keys or x.get("incident_id") in v.keys:
                ids = " ".join(
                    f"{k}={x[k]}" for k in ("event_id", "incident_id", "pattern", "state") if k in x
                )
                head = f"sim[{x.get('shard')}.{x.get('gen')}] {x.get('unit')} {x.get('event')}"
                rows[i].append((x["t"], f"{head} {ids}"))
    keyed = [(i, v.keys) for i, v in enumerate(vs) if v.keys]
    if keyed:
        for c in run.capture():
            if "topic" not in c:
                continue
            for i, keys in keyed:
                if any(k in c["topic"] or k in c["payload"] for k in keys):
                    rows[i].append((c["t"], f"wire {c['topic'].split('/', 3)[-1]} {c['payload'][:160]}"))
    out: list[list[str]] = []
    for i, v in enumerate(vs):
        if v.t is None and not v.keys:
            out.append([])
            continue
        mine = rows[i]
        for f in run.faults:
            mine.append((f["start"], f"FAULT {f['kind']} {f['target']} until +{f['end'] - f['start']:.1f} s"))
        for x in run.leads:
            if x.get("incident_id") in v.keys:
                mine.append((x["t"], f"lead {x['person']} sends {x['kind']} {x['incident_id']}"))
        mine.sort()
        if v.t is not None:
            before = [row for row in mine if row[0] <= v.t][-n // 2 :]
            after = [row for row in mine if row[0] > v.t][: n - len(before)]
            mine = before + after
        else:
            mine = mine[:n]
        out.append([f"    {clock(t)} {s}" for t, s in mine])
    return out


def report(run: Run, results: Iterable[Result]) -> bool:
    results = list(results)
    print(f"\ninvariants of soak seed {run.plan['seed']} ({run.dir}):")
    print(f"  {'inv':<4} {'checked':>8} {'violations':>10}  what")
    for res in results:
        extra = f"  ({res.note})" if res.note else ""
        print(f"  {res.name:<4} {res.checked:>8} {len(res.violations):>10}  {res.title}{extra}")
    bad = [v for res in results for v in res.violations]
    if not bad:
        return True
    print(f"\nFAILED: {len(bad)} violation(s); seed {run.plan['seed']}, fault schedule as applied:")
    for f in run.faults:
        extra = " ".join(f"{k}={f[k]}" for k in ("person", "offset_s") if k in f)
        if "downs" in f:
            extra += f" downs={len(f['downs'])}"
        print(
            f"  {f['kind']:<18} {f['target']:<12} planned t+{f['planned_at']:.1f} s, applied "
            f"{clock(f['start'])} for {f['end'] - f['start']:.1f} s {f.get('note', '')} {extra}".rstrip()
        )
    shown = bad[:20]
    for v, lines in zip(shown, _contexts(run, shown), strict=True):
        print(f"\n  [{v.invariant}] {v.text}")
        for line in lines:
            print(line)
    if len(bad) > 20:
        print(f"\n  ... and {len(bad) - 20} more")
    return False
