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

CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT,
  email TEXT,
  plan TEXT,
  status TEXT NOT NULL,
  trial_ends_at TEXT,
  updated_at TEXT
);

CREATE TABLE IF NOT EXISTS payments (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  booking_uid TEXT,
  refund_id TEXT,
  failure_reason TEXT,
  updated_at TEXT
);

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

CREATE TABLE IF NOT EXISTS products (
  id TEXT PRIMARY KEY,
  source TEXT,
  printify_product_id TEXT,
  title TEXT,
  in_stock INTEGER NOT NULL DEFAULT 0,
  archived_at TEXT,
  synced_at TEXT
);

CREATE TABLE IF NOT EXISTS product_variants (
  product_id TEXT NOT NULL,
  printify_variant_id TEXT NOT NULL,
  title TEXT,
  price_cents INTEGER,
  is_enabled INTEGER,
  is_available INTEGER,
  synced_at TEXT,
  PRIMARY KEY (product_id, printify_variant_id)
);

CREATE TABLE IF NOT EXISTS sync_runs (
  kind TEXT NOT NULL,
  run_id TEXT PRIMARY KEY,
  product_count INTEGER,
  finished_at TEXT
);

CREATE TABLE IF NOT EXISTS content_resources (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  parent_id TEXT,
  title TEXT,
  description TEXT,
  location TEXT,
  starts_at TEXT,
  ends_at TEXT,
  timezone TEXT,
  calendar_id TEXT,
  deleted_at TEXT
);
