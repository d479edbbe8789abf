"""`alarm-console serve --ha` refuses a database that is not a projection of the cluster's log
(docs/HA.md): a single console's database with facts, or one that applied more of a log than the
cluster has. Real 3-node cluster (the module's fixture), real `alarm-console` process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from stilalarm.broker_config.local import LocalCluster
from stilalarm.console.core.notice import notified
from stilalarm.console.store import Batch, Store
from stilalarm.wire.messages import NotifyReason, utcnow

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "site.toml"


def serve_ha(db: Path, cluster: LocalCluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "stilalarm.console.cli", "serve"),
            *("--site", str(SITE), "--db", str(db), "--broker-dir", str(cluster.dir), "--ha", "x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_single_consoles_database_is_refused(tmp_path: Path, cluster: LocalCluster) -> None:
    db = tmp_path / "single.db"
    store = Store(db, init=True)
    store.commit(
        Batch(facts=[notified(utcnow(), NotifyReason.INFO, ("an",), "k", "store_fault_title", {})]), utcnow()
    )
    store.close()
    out = serve_ha(db, cluster)
    assert out.returncode == 4, out.stderr
    assert "holds facts that are not in the cluster's log" in out.stderr
    assert "new database (--db)" in out.stderr


def test_a_database_ahead_of_the_log_is_refused(tmp_path: Path, cluster: LocalCluster) -> None:
    db = tmp_path / "ahead.db"
    Store(db, init=True).close()
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO meta (key, value) VALUES ('log_seq', '999999')")
    out = serve_ha(db, cluster)
    assert out.returncode == 4, out.stderr
    assert "belongs to another log" in out.stderr
