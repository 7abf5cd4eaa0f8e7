-- The app database the bundled flows read and write (the `app` database of flowrun.yaml): so far
-- the tables of the mentorship and payment flows, which their test files (*.test.yaml) load.

CREATE TABLE IF NOT EXISTS users (
  clerk_id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  first_name TEXT,
  last_name TEXT,
  dashboard_access INTEGER NOT NULL DEFAULT 0,
  discord_id TEXT,
  deleted_at TEXT,
  updated_at TEXT
);

CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  payment_ref TEXT NOT NULL,
  payment_intent_id TEXT,
  clerk_id TEXT NOT NULL,
  pack_id TEXT NOT NULL,
  status TEXT NOT NULL,
  paid_at TEXT,
  refunded_at TEXT
);

CREATE TABLE IF NOT EXISTS onboarding (
  order_id TEXT PRIMARY KEY,
  clerk_id TEXT NOT NULL,
  pack_id TEXT,
  provider TEXT,
  status TEXT NOT NULL,
  started_at TEXT,
  completed_at TEXT,
  reminded_at TEXT
);
