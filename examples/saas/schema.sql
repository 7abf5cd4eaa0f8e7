-- The SaaS app's tables, as the flows expect them.
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT);
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id),
  email TEXT NOT NULL,
  status TEXT NOT NULL,
  suspended_at TEXT
);
CREATE TABLE IF NOT EXISTS payment_failures (
  invoice_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  amount_due INTEGER,
  currency TEXT,
  failed_at TEXT,
  resolved_at TEXT,
  PRIMARY KEY (invoice_id, attempt)
);
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  usage_limit INTEGER NOT NULL,
  warned_at TEXT,
  locked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usage_events (
  event_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  units INTEGER NOT NULL
);
INSERT OR IGNORE INTO users VALUES ('usr_1', 'grace@example.com', 'Grace');
INSERT OR IGNORE INTO subscriptions VALUES ('sub_trial_1', 'usr_1', 'grace@example.com', 'trialing', NULL);
INSERT OR IGNORE INTO subscriptions VALUES ('sub_paid_1', 'usr_1', 'grace@example.com', 'active', NULL);
INSERT OR IGNORE INTO accounts (id, email, usage_limit) VALUES ('acct_1', 'grace@example.com', 100);
