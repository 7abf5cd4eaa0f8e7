-- The course platform's tables, as the flows expect them.
CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, name TEXT NOT NULL, discord_role_id TEXT);
CREATE TABLE IF NOT EXISTS entitlements (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  entitlement_type TEXT NOT NULL,
  metadata TEXT,
  deleted_at TEXT
);
CREATE TABLE IF NOT EXISTS accounts (
  user_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_account_id TEXT,
  updated_at TEXT,
  PRIMARY KEY (user_id, provider)
);
CREATE TABLE IF NOT EXISTS content_resources (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  location TEXT,
  starts_at TEXT,
  ends_at TEXT,
  timezone TEXT,
  calendar_id TEXT,
  deleted_at TEXT
);
INSERT OR IGNORE INTO products VALUES ('prod_cohort_3', 'AI Engineering Cohort 3', 'role_cohort3');
INSERT OR IGNORE INTO accounts (user_id, provider) VALUES ('usr_42', 'discord');
INSERT OR IGNORE INTO content_resources (id, type, title, description, location, starts_at, ends_at, timezone)
  VALUES ('evt_live_1', 'event', 'Live Q&A', 'Bring your questions', 'https://meet.example.com/qa',
          '2026-12-10T17:00:00Z', '2026-12-10T18:00:00Z', 'America/New_York');
