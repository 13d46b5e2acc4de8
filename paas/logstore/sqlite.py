"""The per-app log history in SQLite (the standard library's sqlite3, in WAL mode): every
controller process of a host reads and writes one file; lines survive container removal,
deploys and controller restarts; each app is bounded by a line count and an age.

Why SQLite rather than files per app: time-ordered reads across sources, `-n N` in total,
filters by type/source/since and the follow cursor are one indexed query each, and concurrent
writers (gunicorn workers) are safe without a lock of our own. Duplicate lines (a collector that
resumes from Docker's `since`, which is inclusive) are dropped by a unique key."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from paas.domain.errors import StoreUnavailable
from paas.domain.logs import LogLine, bounded

SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL, ts REAL NOT NULL, source TEXT NOT NULL, type TEXT NOT NULL,
    text TEXT NOT NULL, tag TEXT NOT NULL DEFAULT '', origin TEXT NOT NULL DEFAULT '',
    UNIQUE (app, origin, ts, text)
);
CREATE INDEX IF NOT EXISTS lines_app_ts ON lines (app, ts);
CREATE INDEX IF NOT EXISTS lines_app_source ON lines (app, source);
-- A source's mark (a failed canary's), so lines of it stored later carry it too: the deploy
-- service of one controller process may mark it before the collector of another stored it all.
CREATE TABLE IF NOT EXISTS source_tags (
    app TEXT NOT NULL, source TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (app, source)
);
"""
INSERT = ("INSERT OR IGNORE INTO lines (app, ts, source, type, text, tag, origin) VALUES "
          "(?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), (SELECT tag FROM source_tags WHERE app = ? AND source = ?), ''), ?)")
PRUNE_EVERY = 500  # inserts between two prunes of an app


class SqliteLogStore:
    def __init__(self, path: Path, max_lines: int, max_age: float):
        self.path, self.max_lines, self.max_age = path, max_lines, max_age
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._inserted: dict[str, int] = {}
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def append(self, lines: list[LogLine], origin: str = "") -> list[LogLine]:
        """Store lines; returns those that were new (a drain forwards only those). `origin` (the
        container id) keeps two instances' identical lines apart."""
        return self.append_many([(origin, lines)])

    def append_many(self, batches: list[tuple[str, list[LogLine]]]) -> list[LogLine]:
        """Several origins' lines in one transaction: the collector's batches (one commit per
        batch, not per line, is what keeps up with thousands of lines a second). A failing disk
        or database is StoreUnavailable."""
        try:
            return self._append_many(batches)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"log history: {exc}") from None

    def _append_many(self, batches: list[tuple[str, list[LogLine]]]) -> list[LogLine]:
        db, new = self._db(), []
        db.execute("BEGIN IMMEDIATE")
        try:
            for origin, lines in batches:
                for line in lines:
                    cursor = db.execute(INSERT, (line.app, line.ts, line.source, line.type, bounded(line.text),
                                                 line.tag, line.app, line.source, origin))
                    if cursor.rowcount:
                        new.append(line)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for app in {line.app for line in new}:
            count = self._inserted.get(app, 0) + sum(1 for line in new if line.app == app)
            self._inserted[app] = count
            if count >= PRUNE_EVERY:
                self._inserted[app] = 0
                self.prune(app)
        return new

    def prune(self, app: str, now: float | None = None) -> None:
        """Drop lines older than max_age, then all but the newest max_lines."""
        cutoff = (time.time() if now is None else now) - self.max_age
        db = self._db()
        db.execute("DELETE FROM lines WHERE app = ? AND ts < ?", (app, cutoff))
        db.execute("DELETE FROM lines WHERE app = ? AND id NOT IN "
                   "(SELECT id FROM lines WHERE app = ? ORDER BY ts DESC, id DESC LIMIT ?)",
                   (app, app, self.max_lines))

    def read(self, app: str, limit: int, types: tuple[str, ...] = (), sources: tuple[str, ...] = (),
             since: float | None = None, after_id: int = 0) -> list[tuple[int, LogLine]]:
        """The newest `limit` matching lines in time order, each with its id (the follow cursor:
        after_id returns only lines stored later, in the order they were stored)."""
        where, args = ["app = ?"], [app]
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            args += types
        if sources:
            where.append(f"source IN ({','.join('?' * len(sources))})")
            args += sources
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if after_id:
            where.append("id > ?")
            args.append(after_id)
            order = "id ASC"
        else:
            order = "ts DESC, id DESC"
        rows = self._db().execute(
            f"SELECT id, ts, app, source, type, text, tag FROM lines WHERE {' AND '.join(where)} "  # noqa: S608 - placeholders only
            f"ORDER BY {order} LIMIT ?", (*args, limit)).fetchall()
        found = [(row[0], LogLine(*row[1:])) for row in rows]
        return found if after_id else sorted(found, key=lambda pair: (pair[1].ts, pair[0]))

    def last_id(self, app: str) -> int:
        row = self._db().execute("SELECT MAX(id) FROM lines WHERE app = ?", (app,)).fetchone()
        return row[0] or 0

    def last_timestamp(self, app: str, origin: str) -> float | None:
        try:
            return self._last_timestamp(app, origin)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"log history: {exc}") from None

    def _last_timestamp(self, app: str, origin: str) -> float | None:
        """Where a collector resumes one container's output after a restart."""
        row = self._db().execute("SELECT MAX(ts) FROM lines WHERE app = ? AND origin = ?", (app, origin)).fetchone()
        return row[0]

    def tag_source(self, app: str, source: str, tag: str) -> int:
        """Mark every stored line of one source (e.g. a failed canary's), and those stored of it
        later; how many were marked now."""
        db = self._db()
        db.execute("INSERT OR REPLACE INTO source_tags (app, source, tag) VALUES (?, ?, ?)", (app, source, tag))
        return db.execute("UPDATE lines SET tag = ? WHERE app = ? AND source = ?", (tag, app, source)).rowcount

    def texts_of(self, app: str, source: str) -> set[str]:
        """The texts stored of one source (which of a failure's last lines the collector has)."""
        rows = self._db().execute("SELECT text FROM lines WHERE app = ? AND source = ?", (app, source)).fetchall()
        return {row[0] for row in rows}

    def remove_app(self, app: str) -> None:
        db = self._db()
        db.execute("DELETE FROM lines WHERE app = ?", (app,))
        db.execute("DELETE FROM source_tags WHERE app = ?", (app,))
        self._inserted.pop(app, None)
