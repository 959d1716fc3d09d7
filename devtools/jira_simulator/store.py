"""SQLite-backed data of the simulated Jira site: schema, deterministic seeding, queries, edits.

Issues live in one table with a column per JQL-searchable field (indexed) so a compiled JQL
WHERE clause and a keyset position turn every page into an index seek; the JSON an API call
returns is rendered from the columns (see render.py). Comments, labels, issue properties,
watchers, worklogs, issue links, attachments and the changelog (edits made through the API)
have their own tables.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from . import model
from .jql import CompiledQuery

SCHEMA = """
CREATE TABLE projects (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    workflow TEXT NOT NULL, next_num INTEGER NOT NULL, lead TEXT
);
CREATE TABLE users (
    account_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, email TEXT, display_name TEXT NOT NULL,
    active INTEGER NOT NULL, account_type TEXT NOT NULL, time_zone TEXT NOT NULL,
    locale TEXT NOT NULL, products TEXT NOT NULL DEFAULT '[]',
    email_visible INTEGER NOT NULL DEFAULT 1,  -- 0: profile visibility hides the address from others
    removed INTEGER NOT NULL DEFAULT 0  -- 1: deleted from the site (REST DELETE user); the account lives on
);
CREATE INDEX users_seq ON users(seq);
CREATE TABLE groups (
    group_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL UNIQUE COLLATE NOCASE
);
CREATE INDEX groups_seq ON groups(seq);
CREATE TABLE memberships (
    group_id TEXT NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (group_id, account_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(account_id);
CREATE TABLE issues (
    id INTEGER PRIMARY KEY, project_key TEXT NOT NULL, num INTEGER NOT NULL,
    issuetype TEXT NOT NULL, status TEXT NOT NULL, status_category TEXT NOT NULL,
    resolution TEXT, priority TEXT, assignee TEXT, reporter TEXT, creator TEXT,
    summary TEXT NOT NULL, description_text TEXT, description_adf TEXT, environment TEXT,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, resolved INTEGER,
    status_changed INTEGER NOT NULL, extra TEXT
);
CREATE UNIQUE INDEX issues_key ON issues(project_key, num);
CREATE INDEX issues_updated ON issues(updated, id);
CREATE INDEX issues_created ON issues(created, id);
CREATE INDEX issues_project_updated ON issues(project_key, updated, id);
CREATE INDEX issues_updated_key ON issues(updated, project_key, num);  -- ORDER BY updated, key
CREATE INDEX issues_project_updated_key ON issues(project_key, updated, num);
CREATE INDEX issues_project_created ON issues(project_key, created, id);
CREATE INDEX issues_project_id ON issues(project_key, id);
CREATE INDEX issues_status ON issues(status, id);
CREATE INDEX issues_assignee ON issues(assignee, id);
CREATE INDEX issues_reporter ON issues(reporter, id);
CREATE INDEX issues_resolved ON issues(resolved, id);
CREATE INDEX issues_issuetype ON issues(issuetype, id);
CREATE TABLE labels (
    issue_id INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY (issue_id, label)
) WITHOUT ROWID;
CREATE INDEX labels_label ON labels(label, issue_id);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author TEXT, body_text TEXT NOT NULL,
    body_adf TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL, properties TEXT
);
CREATE INDEX comments_issue ON comments(issue_id, id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE issue_properties (
    issue_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (issue_id, key)
) WITHOUT ROWID;
CREATE TABLE watchers (
    issue_id INTEGER NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (issue_id, account_id)
) WITHOUT ROWID;
CREATE TABLE changelog (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author TEXT, created INTEGER NOT NULL,
    items TEXT NOT NULL
);
CREATE INDEX changelog_issue ON changelog(issue_id, id);
CREATE TABLE worklogs (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author TEXT, update_author TEXT,
    started INTEGER NOT NULL, seconds INTEGER NOT NULL, comment_text TEXT, comment_adf TEXT,
    created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX worklogs_issue ON worklogs(issue_id, id);
CREATE TABLE issue_links (
    id INTEGER PRIMARY KEY, type_id TEXT NOT NULL, inward_id INTEGER NOT NULL, outward_id INTEGER NOT NULL
);
CREATE INDEX issue_links_inward ON issue_links(inward_id, id);
CREATE INDEX issue_links_outward ON issue_links(outward_id, id);
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author TEXT, filename TEXT NOT NULL,
    mime_type TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL, content BLOB NOT NULL
);
CREATE INDEX attachments_issue ON attachments(issue_id, id);
-- keys an issue had before it moved to another project (Jira keeps them: they still resolve)
CREATE TABLE moved_keys (
    project_key TEXT NOT NULL COLLATE NOCASE, num INTEGER NOT NULL, issue_id INTEGER NOT NULL,
    PRIMARY KEY (project_key, num)
) WITHOUT ROWID;
-- keys a project had before an admin changed it (Jira keeps them as aliases)
CREATE TABLE former_project_keys (
    key TEXT PRIMARY KEY COLLATE NOCASE, project_id INTEGER NOT NULL
) WITHOUT ROWID;
"""

_USER_COLS = "account_id, seq, email, display_name, active, account_type, time_zone, locale, products"

ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: seeded data ends here (deterministic)
DAY_MS = 86_400_000


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass
class Account:
    email: str
    token: str
    time_zone: str = "Europe/Helsinki"
    admin: bool = True

    @property
    def account_id(self) -> str:
        return account_id_for_email(self.email)

    def __repr__(self) -> str:  # never show the token
        return f"Account(email={self.email!r}, time_zone={self.time_zone!r}, admin={self.admin})"


def account_id_for_email(email: str) -> str:
    return "712020:" + str(uuid.UUID(hashlib.sha1(email.lower().encode()).hexdigest()[:32]))


@dataclass
class SeedSpec:
    seed: int = 42
    projects: int = 3
    issues: int = 300
    users: int = 60
    groups: int = 12
    accounts: list[Account] = field(default_factory=list)


# --- text and ADF ---------------------------------------------------------------------------


def text_to_adf(text: str | None) -> dict | None:
    if text is None:
        return None
    paragraphs = [p for p in text.split("\n\n")] or [""]
    content = []
    for p in paragraphs:
        content.append(
            {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []}
        )
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(node: Any) -> str:
    """Plain text of an ADF document: paragraphs / blocks separated by blank lines."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    children = node.get("content") or []
    parts = [adf_to_text(c) for c in children if isinstance(c, dict)]
    block_types = {"doc", "bulletList", "orderedList", "table", "tableRow", "blockquote"}
    if node.get("type") in block_types:
        return "\n\n".join(p for p in parts if p != "")
    return "".join(parts)


def is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


# --- seeding vocabulary ---------------------------------------------------------------------

_FIRST = "Aino Eero Liisa Mikko Sanna Juha Anna Ville Emma Oskari Laura Timo Sofia Antti Maria Jussi Helmi Kalle Noora Pekka Olivia Lucas Mia Noah Elsa Leo Ella Hugo Iris Otto".split()
_LAST = "Virtanen Korhonen Nieminen Mäkinen Hämäläinen Laine Heikkinen Koskinen Järvinen Lehtonen Smith Johansson Berg Lindqvist Nyström Andersson Karlsson Nilsson Eriksson Larsen".split()
_TZS = ["Europe/Helsinki", "Europe/Stockholm", "Europe/London", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Sydney"]
_APPS = ["Automation for Jira", "Slack", "Jira Service Management Widget", "Opsgenie", "GitHub for Jira"]
_PROJECTS = [
    ("SUP", "Service Desk Support"), ("ENG", "Engineering"), ("OPS", "IT Operations"),
    ("HR", "People Services"), ("FIN", "Finance Requests"), ("NET", "Network Team"),
    ("SEC", "Security"), ("WEB", "Web Platform"), ("DATA", "Data Platform"), ("MOB", "Mobile Apps"),
]
_OBJECTS = "printer VPN laptop e-mail calendar invoice badge wifi monitor database backup report dashboard license password account server certificate build pipeline API".split()
_PROBLEMS = [
    "is not working", "fails intermittently", "needs an upgrade", "is very slow",
    "shows an error", "must be replaced", "access request", "stopped syncing",
    "cannot be reached from the office", "returns 500 errors", "needs configuration",
]
_PLACES = ["on floor 3", "in Helsinki office", "for the new hire", "after the update", "in production", "for the finance team", "since Monday", ""]
_SENTENCES = [
    "The user reported the problem this morning.", "Steps to reproduce are attached.",
    "This blocks the month-end close.", "Workaround: restart the client.",
    "Affects about twenty people.", "Logs show a timeout after 30 seconds.",
    "Please check with the vendor.", "Priority agreed with the service owner.",
    "Happens only over the VPN.", "The previous fix did not help.",
    "Tested on Windows 11 and macOS.", "Customer expects an update today.",
]
_LABELS = ["hardware", "software", "network", "access", "urgent", "customer", "backend", "frontend", "security", "onboarding", "vip", "known-error"]
_GROUP_NAMES = ["jira-software-users", "jira-servicemanagement-users", "site-admins", "jira-administrators", "support-tier-1", "support-tier-2", "developers", "network-admins", "security-team", "finance", "hr", "managers", "contractors", "qa", "devops", "data-team", "mobile-team", "web-team", "onboarding", "alumni"]


def _hex_id(rng: random.Random) -> str:
    return "%024x" % rng.getrandbits(96)


class Store:
    """All data of one simulated site. Not thread-safe: the server calls it from one loop."""

    def __init__(self, spec: SeedSpec, db_path: str = ":memory:", reuse: bool = False) -> None:
        """Open ``db_path``; seed it unless ``reuse`` and it already holds this spec's seed."""
        self.spec = spec
        self.db_path = db_path
        self.lock = threading.RLock()
        self.conn = self._connect()
        self._users: dict[str, dict] = {}
        self.reused = reuse and self._seeded_with(self.spec_fingerprint())
        if self.reused:
            self._load_users()
        else:
            self.reset()

    def spec_fingerprint(self) -> str:
        s = self.spec
        accounts = sorted((a.email.lower(), a.time_zone) for a in s.accounts)
        return fingerprint(SCHEMA, s.seed, s.projects, s.issues, s.users, s.groups, accounts)

    def _seeded_with(self, fp: str) -> bool:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
        except sqlite3.DatabaseError:
            return False
        return row is not None and row[0] == fp

    # --- lifecycle -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-200000")
        return conn

    def reset(self) -> None:
        """Drop everything and seed again from the spec (deterministic)."""
        with self.lock:
            for (name,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
            ).fetchall():
                self.conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            self.conn.executescript(SCHEMA)
            self._seed()
            self.conn.execute(
                "INSERT INTO meta VALUES ('seed', ?)", (self.spec_fingerprint(),)
            )
            self._load_users()

    # --- seeding ---------------------------------------------------------------------------

    def _seed(self) -> None:
        """Generate the data set of ``self.spec`` (deterministic: one random stream, in this order)."""
        rng = random.Random(self.spec.seed)
        c = self.conn
        c.execute("BEGIN")
        all_ids, atlassian_ids = self._seed_users(rng)
        self._seed_groups(rng, all_ids)
        # projects
        projects = []
        nproj = max(1, self.spec.projects)
        for p in range(nproj):
            key, name = _PROJECTS[p] if p < len(_PROJECTS) else (f"P{p}", f"Project {p}")
            workflow = model.WORKFLOW_ORDER[p % len(model.WORKFLOW_ORDER)]
            lead = atlassian_ids[p % len(atlassian_ids)] if atlassian_ids else None
            projects.append([10000 + p, key, name, workflow, 1, lead])
        self._seed_issues(rng, projects, atlassian_ids)
        c.executemany("INSERT INTO projects VALUES (?,?,?,?,?,?)", [tuple(p) for p in projects])
        c.execute("COMMIT")
        c.execute("ANALYZE")

    def _seed_users(self, rng: random.Random) -> tuple[list[str], list[str]]:
        """Users (every 20th an app) and the accounts' users: all ids and the active people's."""
        spec, c = self.spec, self.conn
        users: list[tuple] = []
        atlassian_ids: list[str] = []
        for i in range(spec.users):
            account_id = _hex_id(rng)
            if i % 20 == 19:
                name = _APPS[(i // 20) % len(_APPS)]
                users.append((account_id, i, None, name, 1, "app", "UTC", "en_US", "[]"))
                continue
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first}.{last}.{i}@example.com".lower().replace("ä", "a").replace("ö", "o")
            active = 0 if rng.random() < 0.08 else 1
            users.append(
                (account_id, i, email, f"{first} {last}", active, "atlassian",
                 rng.choice(_TZS), "en_US", '["jira-software"]')
            )
            if active:
                atlassian_ids.append(account_id)
        for j, acct in enumerate(spec.accounts):
            users.append(
                (acct.account_id, spec.users + j, acct.email,
                 acct.email.split("@")[0].replace(".", " ").title(), 1, "atlassian",
                 acct.time_zone, "en_US", '["jira-software","jira-servicedesk"]')
            )
        c.executemany(f"INSERT OR REPLACE INTO users ({_USER_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", users)
        all_ids = [u[0] for u in users]
        if not atlassian_ids:
            atlassian_ids = [a.account_id for a in spec.accounts] or all_ids
        return all_ids, atlassian_ids

    def _seed_groups(self, rng: random.Random, all_ids: list[str]) -> None:
        """Groups with random members (the first one big enough to page)."""
        spec, c = self.spec, self.conn
        groups = []
        members: list[tuple[str, str]] = []
        for g in range(spec.groups):
            name = _GROUP_NAMES[g] if g < len(_GROUP_NAMES) else f"team-{g:04d}"
            gid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            groups.append((gid, g, name))
            if all_ids:
                size = rng.randint(0, min(len(all_ids), 5 + len(all_ids) // 3))
                if g == 0:
                    size = min(len(all_ids), max(size, 60))  # one big group: member paging
                for account_id in rng.sample(all_ids, size):
                    members.append((gid, account_id))
        c.executemany("INSERT INTO groups VALUES (?,?,?)", groups)
        c.executemany("INSERT OR IGNORE INTO memberships VALUES (?,?)", members)

    def _seed_issues(self, rng: random.Random, projects: list[list], atlassian_ids: list[str]) -> None:
        """Issues with labels and comments, spread over ``projects`` (their counters advance)."""
        spec, c = self.spec, self.conn
        nproj = len(projects)
        heavy_p = 0.025 if spec.issues <= 20_000 else 0.002
        issue_rows: list[tuple] = []
        label_rows: list[tuple] = []
        comment_rows: list[tuple] = []
        comment_id = 10000
        span = 730 * DAY_MS
        batch = 20_000

        def flush() -> None:
            c.executemany(
                "INSERT INTO issues VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", issue_rows
            )
            c.executemany("INSERT INTO labels VALUES (?,?)", label_rows)
            c.executemany("INSERT INTO comments VALUES (?,?,?,?,?,?,?,?)", comment_rows)
            issue_rows.clear()
            label_rows.clear()
            comment_rows.clear()

        type_names = [t["name"] for t in model.ISSUE_TYPES]
        prio_names = [p["name"] for p in model.PRIORITIES]
        prio_weights = [1, 3, 8, 3, 1]
        res_names = [r["name"] for r in model.RESOLUTIONS]
        teams = [o["value"] for o in model.TEAM_OPTIONS]
        wf_statuses = {w: model.workflow_statuses(w) for w in model.WORKFLOWS}
        rand = rng.random
        randint = rng.randint
        choice = rng.choice
        for n in range(spec.issues):
            proj = projects[n % nproj]
            num = proj[4]
            proj[4] = num + 1
            issue_id = 10000 + n
            created = ANCHOR_MS - span + int(rand() * span)
            updated = min(ANCHOR_MS, created + int(rand() * rand() * 120 * DAY_MS))
            status = choice(wf_statuses[proj[3]])
            category = model.STATUS_BY_NAME[status].category
            resolution = resolved = None
            if category == "done":
                resolution = res_names[0] if rand() < 0.75 else choice(res_names)
                resolved = created + int((updated - created) * 0.9)
            obj = choice(_OBJECTS)
            summary = f"{obj.capitalize()} {choice(_PROBLEMS)} {choice(_PLACES)}".strip()
            description = " ".join(rng.sample(_SENTENCES, randint(1, 3)))
            if rand() < 0.3:
                description += "\n\n" + choice(_SENTENCES)
            if rand() < 0.05:
                description = None
            assignee = choice(atlassian_ids) if rand() < 0.8 else None
            reporter = choice(atlassian_ids)
            extra: dict[str, Any] = {}
            if rand() < 0.5:
                extra["customfield_10016"] = choice([1, 2, 3, 5, 8, 13])
            if rand() < 0.6:
                extra["customfield_10020"] = choice(teams)
            if rand() < 0.2:
                extra["customfield_10050"] = f"ESM-{randint(1000, 99999)}"
            issue_rows.append((
                issue_id, proj[1], num, choice(type_names), status, category, resolution,
                rng.choices(prio_names, prio_weights)[0] if rand() < 0.97 else None,
                assignee, reporter, reporter, summary, description, None,
                "Production" if rand() < 0.1 else None,
                created, updated, resolved, (resolved or created),
                json.dumps(extra, separators=(",", ":")) if extra else None,
            ))
            for label in set(rng.sample(_LABELS, randint(0, 3))):
                label_rows.append((issue_id, label))
            ncomments = randint(51, 75) if rand() < heavy_p else min(randint(0, 3), randint(0, 3))
            for k in range(ncomments):
                when = created + int((updated - created) * (k + 1) / (ncomments + 1))
                comment_rows.append((
                    comment_id, issue_id, choice(atlassian_ids),
                    f"Comment {k + 1}: " + choice(_SENTENCES), None, when, when, None,
                ))
                comment_id += 1
            if len(issue_rows) >= batch:
                flush()
        flush()

    # --- catalog (for the JQL compiler) ----------------------------------------------------

    def project_rows(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM projects ORDER BY id").fetchall()

    def project(self, key_or_id: str, *, exact: bool = False) -> sqlite3.Row | None:
        """A project by id, key, name or a key it had before (Jira keeps former keys as aliases).
        ``exact``: by id or key only, the key in its case (the REST paths' ``projectIdOrKey``:
        "The project ID or project key (case sensitive)"); JQL and issue input also take names."""
        v = str(key_or_id).strip()
        if v.isdigit():
            row = self.conn.execute("SELECT * FROM projects WHERE id = ?", (int(v),)).fetchone()
            if row:
                return row
        sql = "key = ?" if exact else "key = ? COLLATE NOCASE OR name = ? COLLATE NOCASE"
        row = self.conn.execute(f"SELECT * FROM projects WHERE {sql}", (v,) if exact else (v, v)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT projects.* FROM former_project_keys JOIN projects ON projects.id = project_id "
                f"WHERE former_project_keys.key = ?{' COLLATE BINARY' if exact else ''}", (v,),
            ).fetchone()
        return row

    def key_issue(self, project_key: str, num: int) -> int | None:
        """The id of the issue keyed ``project_key-num`` now (None: no such issue)."""
        row = self.conn.execute("SELECT id FROM issues WHERE project_key = ? COLLATE NOCASE AND num = ?",
                                (project_key, num)).fetchone()
        return row[0] if row else None

    def former_key_issue(self, project_key: str, num: int) -> int | None:
        """The id of the issue that had the key ``project_key-num`` before it moved, or whose
        project was then keyed ``project_key`` (None: no such former key)."""
        row = self.conn.execute(
            "SELECT issue_id FROM moved_keys WHERE project_key = ? AND num = ?", (project_key, num)
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT issues.id FROM former_project_keys f JOIN projects p ON p.id = f.project_id "
                "JOIN issues ON issues.project_key = p.key AND issues.num = ? WHERE f.key = ?", (num, project_key),
            ).fetchone()
        return row[0] if row else None

    def move_issue(self, issue_id: int, project_key: str) -> sqlite3.Row:
        """Move an issue to another project, as Jira's "Move" does: it keeps its id, gets the
        next number of the target project, its old key keeps resolving, ``updated`` moves on,
        and the changelog records the new key and project."""
        with self.lock:
            row = self.conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
            target = self.project(project_key)
            if target is None:
                raise NotFound(project_key)
            if target["key"] == row["project_key"]:
                raise Conflict("the issue is in that project already")
            num = target["next_num"]
            self.conn.execute("UPDATE projects SET next_num = ? WHERE id = ?", (num + 1, target["id"]))
            old_key, new_key = f"{row['project_key']}-{row['num']}", f"{target['key']}-{num}"
            self.conn.execute("INSERT OR REPLACE INTO moved_keys VALUES (?, ?, ?)", (row["project_key"], row["num"], issue_id))
            values: dict[str, Any] = {"project_key": target["key"], "num": num}
            if row["status"] not in model.workflow_statuses(target["workflow"]):
                values["status"] = model.initial_status(target["workflow"])  # the move maps it
            self.update_issue(issue_id, values)
            self.add_history(issue_id, None, [
                {"field": "Key", "fieldtype": "jira", "fromString": old_key, "toString": new_key},
                {"field": "project", "fieldtype": "jira", "from": str(self.project(row["project_key"])["id"]),
                 "fromString": row["project_key"], "to": str(target["id"]), "toString": target["key"]},
            ])
            return self.conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()

    def rename_project_key(self, project_id: int, new_key: str) -> sqlite3.Row:
        """Change a project's key, as a Jira admin can: every issue is keyed anew with its
        number, and the old project key and issue keys keep resolving (JQL, GET, bulkfetch).
        Issues' ``updated`` does not change (nothing in the issues did)."""
        with self.lock:
            project = self.conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
            other = self.project(new_key)
            if other is not None and other["id"] != project_id:
                raise Conflict(f"Project '{other['key']}' uses this project key.")
            if project["key"] == new_key:
                return project
            self.conn.execute("INSERT OR REPLACE INTO former_project_keys VALUES (?, ?)", (project["key"], project_id))
            self.conn.execute("DELETE FROM former_project_keys WHERE key = ?", (new_key,))  # back to a former key
            self.conn.execute("UPDATE issues SET project_key = ? WHERE project_key = ?", (new_key, project["key"]))
            self.conn.execute("UPDATE projects SET key = ? WHERE id = ?", (new_key, project_id))
            return self.conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()

    def resolve_project(self, value: str) -> str | None:
        row = self.project(value)
        return row["key"] if row else None

    def resolve_status(self, value: str) -> str | None:
        for s in model.STATUSES:
            if value.lower() == s.name.lower() or value == s.id:
                return s.name
        return None

    def resolve_status_category(self, value: str) -> str | None:
        for key, cat in model.STATUS_CATEGORIES.items():
            if value.lower() in (key, cat["name"].lower()) or value == str(cat["id"]):
                return key
        return None

    @staticmethod
    def _by_name_or_id(items: list[dict], value: str) -> str | None:
        for item in items:
            if value.lower() == item["name"].lower() or value == item["id"]:
                return item["name"]
        return None

    def resolve_issuetype(self, value: str) -> str | None:
        return self._by_name_or_id(model.ISSUE_TYPES, value)

    def resolve_resolution(self, value: str) -> str | None:
        return self._by_name_or_id(model.RESOLUTIONS, value)

    def resolve_priority(self, value: str) -> str | None:
        return self._by_name_or_id(model.PRIORITIES, value)

    def resolve_users(self, value: str) -> list[str]:
        if value in self._users:
            return [value]
        low = value.lower()
        return [
            u["account_id"]
            for u in self._users.values()
            if (u["email"] or "").lower() == low or u["display_name"].lower() == low
        ]

    def resolve_option(self, field_id: str, value: str) -> str | None:
        for opt in model.TEAM_OPTIONS if field_id == "customfield_10020" else []:
            if value.lower() == opt["value"].lower() or value == opt["id"]:
                return opt["value"]
        return None

    def group_members(self, group_name: str) -> list[str] | None:
        g = self.group(name=group_name)
        if g is None:
            return None
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT account_id FROM memberships WHERE group_id = ?", (g["group_id"],)
            )
        ]

    # --- issue search ----------------------------------------------------------------------

    @staticmethod
    def _full_order(compiled: CompiledQuery) -> list[tuple[str, str, Any]]:
        order = list(compiled.order) or [("id", "asc", 0)]
        if not any(expr == "id" for expr, _, _ in order):
            dirs = {d for _, d, _ in order}
            order.append(("id", dirs.pop() if len(dirs) == 1 else "asc", 0))
        return order

    def search(
        self, compiled: CompiledQuery, limit: int, after: list[Any] | None
    ) -> tuple[list[sqlite3.Row], list[list[Any]]]:
        """One page of issues: rows and each row's sort position (for the next page token).

        A page after ``after`` (the last row's position) is read as the disjoint ranges of the
        keyset, nearest first: for an order ``(c1, c2, id)`` these are ``c1 = v1 AND c2 = v2
        AND id > i``, then ``c1 = v1 AND c2 > v2``, then ``c1 > v1`` (``<`` for a descending
        column, so mixed directions work alike). Each range is a plain equality prefix plus
        one range bound, which SQLite turns into an index seek -- unlike the row value
        ``(c1, c2, id) > (?, ?, ?)``, which it does not use as a range bound once an index
        column is already fixed by the filter (``project = X ORDER BY key``) or when the index
        covers only the leading column (``ORDER BY updated, key``), so a page near the end
        cost a scan from the start of the result. Ranges are read until the page is full.
        """
        order = self._full_order(compiled)
        if after is not None and len(after) != len(order):
            raise ValueError("position does not match the query's order")
        rows: list[sqlite3.Row] = []
        for sql, params in self.search_statements(compiled, after):
            rows.extend(self.conn.execute(sql, [*params, limit - len(rows)]).fetchall())
            if len(rows) >= limit:
                break
        positions = [[row[f"_s{i}"] for i in range(len(order))] for row in rows]
        return rows, positions

    def search_statements(
        self, compiled: CompiledQuery, after: list[Any] | None
    ) -> list[tuple[str, list[Any]]]:
        """The SELECTs ``search`` runs in turn (each without its trailing ``LIMIT ?``
        parameter), nearest keyset range first; one statement for a first page."""
        order = self._full_order(compiled)
        base = [f"({compiled.where_sql})"] if compiled.where_sql else []
        sort_cols = ", ".join(f"{e} AS _s{i}" for i, (e, _, _) in enumerate(order))
        order_sql = ", ".join(f"{e} {d.upper()}" for e, d, _ in order)

        def select(conds: list[str]) -> str:
            return (
                f"SELECT issues.*, {sort_cols} FROM issues"
                + (f" WHERE {' AND '.join(conds)}" if conds else "")
                + f" ORDER BY {order_sql} LIMIT ?"
            )

        if after is None:
            return [(select(base), list(compiled.params))]
        if len(after) != len(order):
            raise ValueError("position does not match the query's order")
        # id is unique: columns after it never decide, so the keyset ends at id
        keys = order[: next(i for i, (e, _, _) in enumerate(order) if e == "id") + 1]
        statements = []
        for k in range(len(keys) - 1, -1, -1):
            expr, direction, _ = keys[k]
            # The keyset bound goes first: of two lower bounds on one column (the filter's
            # ``updated >= ?`` and this ``updated > ?``) SQLite seeks with the first it meets.
            conds = [f"{keys[j][0]} = ?" for j in range(k)]
            values = compiled.pinned.get(expr)
            if values is not None and all(isinstance(v, str) for v in [*values, after[k]]):
                # The filter allows only these values (``project = X``): next to its
                # ``project_key IN (?)`` SQLite would seek with a range ``project_key > ?``
                # and walk every later project, or with the IN and walk all of X. The values
                # beyond the position, as an IN list, are a seek per value (none: no range).
                beyond = [v for v in values if (v > after[k] if direction == "asc" else v < after[k])]
                if not beyond:
                    continue
                conds.append(f"{expr} IN ({', '.join('?' for _ in beyond)})")
                statements.append((select(conds + base), [*after[:k], *beyond, *compiled.params]))
                continue
            conds.append(f"{expr} {'>' if direction == 'asc' else '<'} ?")
            statements.append((select(conds + base), [*after[:k], after[k], *compiled.params]))
        return statements

    def matching_ids(self, compiled: CompiledQuery, ids: list[int]) -> list[int]:
        """Of the issues ``ids``, those the query selects (jql/match), in ascending order."""
        if not ids:
            return []
        sql = f"SELECT id FROM issues WHERE id IN ({', '.join('?' for _ in ids)})" + (
            f" AND ({compiled.where_sql})" if compiled.where_sql else ""
        ) + " ORDER BY id"
        return [row[0] for row in self.conn.execute(sql, [*ids, *compiled.params])]

    def count(self, compiled: CompiledQuery) -> int:
        sql = "SELECT COUNT(*) FROM issues" + (
            f" WHERE {compiled.where_sql}" if compiled.where_sql else ""
        )
        return self.conn.execute(sql, compiled.params).fetchone()[0]

    # --- issues ----------------------------------------------------------------------------

    def issue_row(self, id_or_key: str) -> sqlite3.Row | None:
        v = str(id_or_key).strip()
        if v.isdigit():
            return self.conn.execute("SELECT * FROM issues WHERE id = ?", (int(v),)).fetchone()
        if "-" in v:
            pkey, _, num = v.rpartition("-")
            if num.isdigit():
                row = self.conn.execute(
                    "SELECT * FROM issues WHERE project_key = ? COLLATE NOCASE AND num = ?",
                    (pkey, int(num)),
                ).fetchone()
                if row is None:  # a key the issue had before a move or a project key change
                    former = self.former_key_issue(pkey, int(num))
                    if former is not None:
                        row = self.conn.execute("SELECT * FROM issues WHERE id = ?", (former,)).fetchone()
                return row
        return None

    def labels_of(self, issue_id: int) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT label FROM labels WHERE issue_id = ? ORDER BY label", (issue_id,)
            )
        ]

    def insert_issue(self, values: dict[str, Any], labels: Iterable[str] = ()) -> sqlite3.Row:
        """Insert an issue; ``values`` holds column values (project_key required)."""
        with self.lock:
            proj = self.conn.execute(
                "SELECT * FROM projects WHERE key = ?", (values["project_key"],)
            ).fetchone()
            num = proj["next_num"]
            self.conn.execute("UPDATE projects SET next_num = ? WHERE id = ?", (num + 1, proj["id"]))
            next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM issues").fetchone()[0]
            now = now_ms()
            row = {
                "id": next_id, "project_key": proj["key"], "num": num,
                "issuetype": "Task", "status": model.initial_status(proj["workflow"]),
                "resolution": None, "priority": "Medium", "assignee": None, "reporter": None,
                "creator": None, "summary": "", "description_text": None, "description_adf": None,
                "environment": None, "created": now, "updated": now, "resolved": None,
                "status_changed": now, "extra": None,
            }
            row.update({k: v for k, v in values.items() if k != "project_key"})
            row["status_category"] = model.STATUS_BY_NAME[row["status"]].category
            cols = list(row)
            self.conn.execute(
                f"INSERT INTO issues ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
            self.set_labels(next_id, labels)
            return self.conn.execute("SELECT * FROM issues WHERE id = ?", (next_id,)).fetchone()

    def update_issue(self, issue_id: int, values: dict[str, Any], touch: bool = True) -> None:
        values = dict(values)
        if "status" in values:
            values["status_category"] = model.STATUS_BY_NAME[values["status"]].category
        if touch and "updated" not in values:
            values["updated"] = now_ms()
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(f"UPDATE issues SET {sets} WHERE id = ?", [*values.values(), issue_id])

    def set_labels(self, issue_id: int, labels: Iterable[str]) -> None:
        self.conn.execute("DELETE FROM labels WHERE issue_id = ?", (issue_id,))
        self.conn.executemany(
            "INSERT OR IGNORE INTO labels VALUES (?, ?)", [(issue_id, l) for l in labels]
        )

    # --- worklogs --------------------------------------------------------------------------

    def add_worklog(self, issue_id: int, author: str | None, started: int, seconds: int,
                    comment_text: str | None, comment_adf: str | None) -> sqlite3.Row:
        with self.lock:
            next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM worklogs").fetchone()[0]
            now = now_ms()
            self.conn.execute(
                "INSERT INTO worklogs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (next_id, issue_id, author, author, started, seconds, comment_text, comment_adf, now, now),
            )
            self.update_issue(issue_id, {})  # logging work updates the issue
            return self.conn.execute("SELECT * FROM worklogs WHERE id = ?", (next_id,)).fetchone()

    def worklog(self, issue_id: int, worklog_id: str) -> sqlite3.Row | None:
        if not str(worklog_id).isdigit():
            return None
        return self.conn.execute(
            "SELECT * FROM worklogs WHERE issue_id = ? AND id = ?", (issue_id, int(worklog_id))
        ).fetchone()

    def worklogs(self, issue_id: int, start: int, limit: int, after: int | None = None, before: int | None = None) -> tuple[list[sqlite3.Row], int]:
        where, params = "issue_id = ?", [issue_id]
        if after is not None:
            where += " AND started >= ?"
            params.append(after)
        if before is not None:
            where += " AND started <= ?"
            params.append(before)
        total = self.conn.execute(f"SELECT COUNT(*) FROM worklogs WHERE {where}", params).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT * FROM worklogs WHERE {where} ORDER BY started, id LIMIT ? OFFSET ?", [*params, limit, start]
        ).fetchall()
        return rows, total

    def time_spent(self, issue_id: int) -> int:
        return self.conn.execute("SELECT COALESCE(SUM(seconds), 0) FROM worklogs WHERE issue_id = ?", (issue_id,)).fetchone()[0]

    def update_worklog(self, worklog_id: int, values: dict[str, Any]) -> sqlite3.Row:
        values = {**values, "updated": now_ms()}
        sets = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(f"UPDATE worklogs SET {sets} WHERE id = ?", [*values.values(), worklog_id])
        row = self.conn.execute("SELECT * FROM worklogs WHERE id = ?", (worklog_id,)).fetchone()
        self.update_issue(row["issue_id"], {})
        return row

    def delete_worklog(self, worklog_id: int) -> None:
        row = self.conn.execute("SELECT issue_id FROM worklogs WHERE id = ?", (worklog_id,)).fetchone()
        self.conn.execute("DELETE FROM worklogs WHERE id = ?", (worklog_id,))
        if row is not None:
            self.update_issue(row["issue_id"], {})

    # --- changelog -------------------------------------------------------------------------

    def add_history(self, issue_id: int, author: str | None, items: list[dict], created: int | None = None) -> int:
        """One changelog entry (the ChangeDetails ``items`` of one edit); returns its id."""
        with self.lock:
            next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM changelog").fetchone()[0]
            self.conn.execute(
                "INSERT INTO changelog VALUES (?, ?, ?, ?, ?)",
                (next_id, issue_id, author, created if created is not None else now_ms(), json.dumps(items)),
            )
            return next_id

    def histories(self, issue_id: int, start: int, limit: int, newest_first: bool = False) -> list[sqlite3.Row]:
        order = "DESC" if newest_first else "ASC"
        return self.conn.execute(
            f"SELECT * FROM changelog WHERE issue_id = ? ORDER BY id {order} LIMIT ? OFFSET ?", (issue_id, limit, start)
        ).fetchall()

    def history_count(self, issue_id: int) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM changelog WHERE issue_id = ?", (issue_id,)).fetchone()[0]

    # --- watchers --------------------------------------------------------------------------

    def watchers_of(self, issue_id: int) -> list[dict]:
        ids = [r[0] for r in self.conn.execute("SELECT account_id FROM watchers WHERE issue_id = ?", (issue_id,))]
        users = [self._users[i] for i in ids if i in self._users]
        users.sort(key=lambda u: (u["display_name"].lower(), u["account_id"]))
        return users

    def add_watcher(self, issue_id: int, account_id: str) -> bool:
        cur = self.conn.execute("INSERT OR IGNORE INTO watchers VALUES (?, ?)", (issue_id, account_id))
        return cur.rowcount > 0

    def remove_watcher(self, issue_id: int, account_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM watchers WHERE issue_id = ? AND account_id = ?", (issue_id, account_id))
        return cur.rowcount > 0

    # --- attachments -----------------------------------------------------------------------

    _ATTACHMENT_COLS = "id, issue_id, author, filename, mime_type, size, created"  # not the content

    def add_attachment(self, issue_id: int, author: str | None, filename: str, mime_type: str, content: bytes) -> sqlite3.Row:
        with self.lock:
            next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM attachments").fetchone()[0]
            self.conn.execute(
                "INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (next_id, issue_id, author, filename, mime_type, len(content), now_ms(), content),
            )
            self.update_issue(issue_id, {})
            return self.attachment(str(next_id))

    def attachment(self, attachment_id: str) -> sqlite3.Row | None:
        if not str(attachment_id).isdigit():
            return None
        return self.conn.execute(
            f"SELECT {self._ATTACHMENT_COLS} FROM attachments WHERE id = ?", (int(attachment_id),)
        ).fetchone()

    def attachment_content(self, attachment_id: int) -> bytes:
        return self.conn.execute("SELECT content FROM attachments WHERE id = ?", (attachment_id,)).fetchone()[0]

    def attachments_of(self, issue_id: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            f"SELECT {self._ATTACHMENT_COLS} FROM attachments WHERE issue_id = ? ORDER BY id", (issue_id,)
        ).fetchall()

    def delete_attachment(self, attachment_id: int) -> None:
        row = self.attachment(str(attachment_id))
        self.conn.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
        if row is not None:
            self.update_issue(row["issue_id"], {})

    # --- issue links -----------------------------------------------------------------------

    def add_link(self, type_id: str, inward_id: int, outward_id: int) -> int:
        """The link's id; an existing identical link is kept (Jira answers "created" too)."""
        with self.lock:
            found = self.conn.execute(
                "SELECT id FROM issue_links WHERE type_id = ? AND inward_id = ? AND outward_id = ?",
                (type_id, inward_id, outward_id),
            ).fetchone()
            if found:
                return found[0]
            next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM issue_links").fetchone()[0]
            self.conn.execute("INSERT INTO issue_links VALUES (?, ?, ?, ?)", (next_id, type_id, inward_id, outward_id))
            for issue_id in (inward_id, outward_id):
                self.update_issue(issue_id, {})
            return next_id

    def link(self, link_id: str) -> sqlite3.Row | None:
        if not str(link_id).isdigit():
            return None
        return self.conn.execute("SELECT * FROM issue_links WHERE id = ?", (int(link_id),)).fetchone()

    def links_of(self, issue_id: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM issue_links WHERE inward_id = ? OR outward_id = ? ORDER BY id", (issue_id, issue_id)
        ).fetchall()

    def delete_link(self, link_id: int) -> None:
        row = self.conn.execute("SELECT * FROM issue_links WHERE id = ?", (link_id,)).fetchone()
        self.conn.execute("DELETE FROM issue_links WHERE id = ?", (link_id,))
        if row is not None:
            for issue_id in (row["inward_id"], row["outward_id"]):
                self.update_issue(issue_id, {})

    def delete_issue(self, issue_id: int) -> None:
        self.conn.execute("DELETE FROM issue_links WHERE inward_id = ? OR outward_id = ?", (issue_id, issue_id))
        for table, col in (("issues", "id"), ("labels", "issue_id"), ("comments", "issue_id"), ("issue_properties", "issue_id"), ("watchers", "issue_id"), ("changelog", "issue_id"), ("worklogs", "issue_id"), ("attachments", "issue_id"), ("moved_keys", "issue_id")):
            self.conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (issue_id,))

    # --- comments --------------------------------------------------------------------------

    def comments(self, issue_id: int, start: int, limit: int, desc: bool = False) -> list[sqlite3.Row]:
        return self.conn.execute(
            f"SELECT * FROM comments WHERE issue_id = ? ORDER BY created {'DESC' if desc else 'ASC'}, id {'DESC' if desc else 'ASC'} LIMIT ? OFFSET ?",
            (issue_id, limit, start),
        ).fetchall()

    def comment_count(self, issue_id: int) -> int:
        return self.conn.execute(
            "SELECT COUNT(*) FROM comments WHERE issue_id = ?", (issue_id,)
        ).fetchone()[0]

    def add_comment(
        self, issue_id: int, author: str | None, body_adf: dict, properties: list | None = None,
        created: int | None = None,
    ) -> sqlite3.Row:
        when = created if created is not None else now_ms()
        next_id = self.conn.execute("SELECT COALESCE(MAX(id), 9999) + 1 FROM comments").fetchone()[0]
        self.conn.execute(
            "INSERT INTO comments VALUES (?,?,?,?,?,?,?,?)",
            (next_id, issue_id, author, adf_to_text(body_adf), json.dumps(body_adf), when, when,
             json.dumps(properties) if properties else None),
        )
        self.update_issue(issue_id, {"updated": when})
        return self.conn.execute("SELECT * FROM comments WHERE id = ?", (next_id,)).fetchone()

    def comment(self, issue_id: int, comment_id: str) -> sqlite3.Row | None:
        if not str(comment_id).isdigit():
            return None
        return self.conn.execute(
            "SELECT * FROM comments WHERE id = ? AND issue_id = ?", (int(comment_id), issue_id)
        ).fetchone()

    def update_comment(self, comment_id: int, body_adf: dict) -> sqlite3.Row:
        when = now_ms()
        self.conn.execute(
            "UPDATE comments SET body_text = ?, body_adf = ?, updated = ? WHERE id = ?",
            (adf_to_text(body_adf), json.dumps(body_adf), when, comment_id),
        )
        row = self.conn.execute("SELECT * FROM comments WHERE id = ?", (comment_id,)).fetchone()
        self.update_issue(row["issue_id"], {"updated": when})
        return row

    def comment_properties(self, comment_id: str) -> list[dict] | None:
        """The comment's properties (``[{"key", "value"}]``); None when there is no such comment."""
        try:
            ident = int(comment_id)
        except ValueError:
            return None
        row = self.conn.execute("SELECT properties FROM comments WHERE id = ?", (ident,)).fetchone()
        if row is None:
            return None
        return json.loads(row["properties"]) if row["properties"] else []

    def delete_comment(self, comment_id: int) -> None:
        row = self.conn.execute("SELECT issue_id FROM comments WHERE id = ?", (comment_id,)).fetchone()
        self.conn.execute("DELETE FROM comments WHERE id = ?", (comment_id,))
        if row:
            self.update_issue(row["issue_id"], {})

    # --- issue properties ------------------------------------------------------------------

    def property_keys(self, issue_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT key FROM issue_properties WHERE issue_id = ? ORDER BY key", (issue_id,))]

    def get_property(self, issue_id: int, key: str) -> Any:
        row = self.conn.execute(
            "SELECT value FROM issue_properties WHERE issue_id = ? AND key = ?", (issue_id, key)
        ).fetchone()
        if row is None:
            raise NotFound(key)
        return json.loads(row[0])

    def put_property(self, issue_id: int, key: str, value: Any) -> bool:
        """Store; True when the property was created (False when replaced)."""
        existed = self.conn.execute(
            "SELECT 1 FROM issue_properties WHERE issue_id = ? AND key = ?", (issue_id, key)
        ).fetchone()
        self.conn.execute(
            "INSERT OR REPLACE INTO issue_properties VALUES (?, ?, ?)",
            (issue_id, key, json.dumps(value)),
        )
        return existed is None

    def delete_property(self, issue_id: int, key: str) -> bool:
        cur = self.conn.execute(
            "DELETE FROM issue_properties WHERE issue_id = ? AND key = ?", (issue_id, key)
        )
        return cur.rowcount > 0

    # --- users -----------------------------------------------------------------------------

    def _load_users(self) -> None:
        self._users = {
            r["account_id"]: dict(r) for r in self.conn.execute("SELECT * FROM users ORDER BY seq")
        }

    def user(self, account_id: str | None) -> dict | None:
        return self._users.get(account_id) if account_id else None

    def user_by_email(self, email: str) -> dict | None:
        low = email.lower()
        return next((u for u in self._users.values() if (u["email"] or "").lower() == low), None)

    def users_page(self, start: int, limit: int) -> list[dict]:
        return list(self._users.values())[start : start + limit]

    def create_user(
        self, email: str | None, display_name: str, *, account_id: str | None = None,
        active: bool = True, account_type: str = "atlassian", time_zone: str = "Europe/Helsinki",
        products: list[str] | None = None, email_visible: bool = True,
    ) -> dict:
        account_id = account_id or uuid.uuid4().hex[:24]
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM users").fetchone()[0]
        self.conn.execute(
            f"INSERT INTO users ({_USER_COLS}, email_visible) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (account_id, seq, email, display_name, int(active), account_type, time_zone, "en_US",
             json.dumps(products or []), int(email_visible)),
        )
        self._load_users()
        return self._users[account_id]

    def update_user(self, account_id: str, values: dict[str, Any]) -> dict:
        if account_id not in self._users:
            raise NotFound(account_id)
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            self.conn.execute(f"UPDATE users SET {sets} WHERE account_id = ?", [*values.values(), account_id])
            self._load_users()
        return self._users[account_id]

    def remove_from_site(self, account_id: str) -> None:
        """DELETE user: "removed from Jira's user base", not the Atlassian account -- Jira
        still lists it as inactive (users/search, GET user, issues and comments keep it),
        without product access or groups."""
        if account_id not in self._users or self._users[account_id]["removed"]:
            raise NotFound(account_id)
        self.conn.execute("UPDATE users SET active = 0, products = '[]', removed = 1 WHERE account_id = ?", (account_id,))
        self.conn.execute("DELETE FROM memberships WHERE account_id = ?", (account_id,))
        self._load_users()

    def delete_user(self, account_id: str) -> None:
        """The account is gone altogether (closed): no trace of it is left."""
        if account_id not in self._users:
            raise NotFound(account_id)
        self.conn.execute("DELETE FROM users WHERE account_id = ?", (account_id,))
        self.conn.execute("DELETE FROM memberships WHERE account_id = ?", (account_id,))
        self.conn.execute("DELETE FROM watchers WHERE account_id = ?", (account_id,))
        self._load_users()

    # --- groups ----------------------------------------------------------------------------

    def group(self, *, group_id: str | None = None, name: str | None = None) -> sqlite3.Row | None:
        if group_id is not None:
            return self.conn.execute("SELECT * FROM groups WHERE group_id = ?", (group_id,)).fetchone()
        if name is not None:
            return self.conn.execute("SELECT * FROM groups WHERE name = ?", (name,)).fetchone()
        return None

    def groups_page(
        self, start: int, limit: int, ids: list[str] | None = None, names: list[str] | None = None
    ) -> tuple[list[sqlite3.Row], int]:
        conds, params = [], []
        if ids:
            conds.append(f"group_id IN ({', '.join('?' for _ in ids)})")
            params.extend(ids)
        if names:
            conds.append(f"name IN ({', '.join('?' for _ in names)})")
            params.extend(names)
        where = f" WHERE {' OR '.join(conds)}" if conds else ""
        total = self.conn.execute(f"SELECT COUNT(*) FROM groups{where}", params).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT * FROM groups{where} ORDER BY seq LIMIT ? OFFSET ?", [*params, limit, start]
        ).fetchall()
        return rows, total

    def create_group(self, name: str, group_id: str | None = None) -> sqlite3.Row:
        if self.group(name=name) is not None:
            raise Conflict(name)
        gid = group_id or str(uuid.uuid4())
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM groups").fetchone()[0]
        self.conn.execute("INSERT INTO groups VALUES (?, ?, ?)", (gid, seq, name))
        return self.group(group_id=gid)

    def delete_group(self, group_id: str) -> None:
        self.conn.execute("DELETE FROM groups WHERE group_id = ?", (group_id,))
        self.conn.execute("DELETE FROM memberships WHERE group_id = ?", (group_id,))

    def members(self, group_id: str, include_inactive: bool) -> list[dict]:
        ids = [r[0] for r in self.conn.execute(
            "SELECT account_id FROM memberships WHERE group_id = ?", (group_id,))]
        users = [self._users[i] for i in ids if i in self._users]
        if not include_inactive:
            users = [u for u in users if u["active"]]
        users.sort(key=lambda u: (u["display_name"].lower(), u["account_id"]))
        return users

    def is_member(self, group_id: str, account_id: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM memberships WHERE group_id = ? AND account_id = ?", (group_id, account_id)
        ).fetchone() is not None

    def add_member(self, group_id: str, account_id: str) -> bool:
        cur = self.conn.execute("INSERT OR IGNORE INTO memberships VALUES (?, ?)", (group_id, account_id))
        return cur.rowcount > 0

    def remove_member(self, group_id: str, account_id: str) -> bool:
        cur = self.conn.execute(
            "DELETE FROM memberships WHERE group_id = ? AND account_id = ?", (group_id, account_id)
        )
        return cur.rowcount > 0

    def groups_of(self, account_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT g.* FROM groups g JOIN memberships m ON m.group_id = g.group_id "
            "WHERE m.account_id = ? ORDER BY g.name", (account_id,)
        ).fetchall()


# How far Jira's clock is from this machine's, in ms: the ``clock_offset_seconds`` knob (a
# server clock set wrong, then corrected). Everything the simulator stamps or compares with
# "now" (created, updated, serverTime, relative JQL dates, the search lag) reads now_ms.
_CLOCK_OFFSET_MS = [0]


def set_clock_offset(seconds: float) -> None:
    _CLOCK_OFFSET_MS[0] = int(round(seconds * 1000))


def now_ms() -> int:
    return int(time.time() * 1000) + _CLOCK_OFFSET_MS[0]


# --- page tokens ----------------------------------------------------------------------------


def encode_token(position: list[Any], query_fingerprint: str) -> str:
    raw = json.dumps({"p": position, "q": query_fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query_fingerprint: str) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = data["p"]
        if data["q"] != query_fingerprint or not isinstance(position, list):
            raise ValueError("token for another query")
        return position
    except Exception as exc:  # noqa: BLE001 - every malformed token is the same client error
        raise ValueError("invalid nextPageToken") from exc


def fingerprint(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def iter_chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
