-- The mentorship app's own tables, as the flows expect them.
CREATE TABLE IF NOT EXISTS users (
  clerk_id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  dashboard_access INTEGER NOT NULL DEFAULT 0,
  discord_id TEXT
);
CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  payment_ref TEXT NOT NULL,
  payment_intent_id TEXT,
  clerk_id TEXT NOT NULL,
  pack_id TEXT NOT NULL,
  status TEXT NOT NULL,
  paid_at TEXT
);
CREATE TABLE IF NOT EXISTS onboarding (
  order_id TEXT PRIMARY KEY,
  clerk_id TEXT NOT NULL,
  pack_id TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT,
  completed_at TEXT,
  reminded_at TEXT
);
INSERT OR IGNORE INTO users (clerk_id, email) VALUES ('user_2mentee', 'ada@example.com');
