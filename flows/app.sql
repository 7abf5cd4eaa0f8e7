-- The app database the bundled flows read and write (the `app` database of flowrun.yaml):
-- every table the flows touch (a test checks each statement prepares against it). scripts/serve.sh
-- creates them in app.db; the flows' test files (*.test.yaml) load them into scratch databases.

-- A user is keyed by the Clerk id; `id` is the app's own id (the Clerk id for users that
-- clerk-user-sync created), which the course and SaaS flows join on.
CREATE TABLE IF NOT EXISTS users (
  clerk_id TEXT PRIMARY KEY,
  id TEXT UNIQUE,
  email TEXT NOT NULL,
  name TEXT,
  first_name TEXT,
  last_name TEXT,
  created_at TEXT,
  dashboard_access INTEGER NOT NULL DEFAULT 0,
  discord_id TEXT,
  deleted_at TEXT,
  updated_at TEXT,
  image_url TEXT,
  clerk_updated_at INTEGER  -- Clerk's updated_at (Unix ms): an older delivery never wins
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
  suspended_at TEXT,
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
  source_type TEXT,
  source_id TEXT,
  resource_id TEXT,
  metadata TEXT,
  created_at TEXT,
  deleted_at TEXT,
  UNIQUE (user_id, entitlement_type, source_id, resource_id)
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
  name TEXT,
  type TEXT,
  resource_id TEXT,
  discord_role_id TEXT,
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

CREATE TABLE IF NOT EXISTS onboarding_steps (
  user_id TEXT NOT NULL,
  step TEXT NOT NULL,
  completed_at TEXT,
  PRIMARY KEY (user_id, step)
);

CREATE TABLE IF NOT EXISTS weekly_reports (
  week_start TEXT PRIMARY KEY,
  orders_paid INTEGER NOT NULL,
  orders_refunded INTEGER NOT NULL,
  subscriptions_started INTEGER NOT NULL,
  onboardings_completed INTEGER NOT NULL,
  inventory_syncs INTEGER NOT NULL,
  created_at TEXT
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

CREATE TABLE IF NOT EXISTS onboarding_progress (
  user_id TEXT PRIMARY KEY,
  completed_steps INTEGER NOT NULL DEFAULT 0,
  total_steps INTEGER NOT NULL DEFAULT 0,
  next_step TEXT,
  next_step_url TEXT,
  nudges_sent INTEGER NOT NULL DEFAULT 0,
  last_nudged_at TEXT,
  last_nudge_run TEXT,
  completed_at TEXT
);

CREATE TABLE IF NOT EXISTS communication_channels (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS communication_preference_types (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS communication_preferences (
  user_id TEXT NOT NULL,
  preference_type TEXT,
  preference_type_id TEXT,
  channel_id TEXT,
  active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS broadcasts (
  id TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  body_text TEXT,
  body_html TEXT,
  status TEXT NOT NULL DEFAULT 'draft',
  started_at TEXT,
  finished_at TEXT,
  recipient_count INTEGER
);

CREATE TABLE IF NOT EXISTS broadcast_deliveries (
  broadcast_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  message_id TEXT,
  error TEXT,
  created_at TEXT,
  PRIMARY KEY (broadcast_id, user_id)
);

CREATE TABLE IF NOT EXISTS mentors (
  id TEXT PRIMARY KEY,
  display_name TEXT
);

CREATE TABLE IF NOT EXISTS session_packs (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  mentor_id TEXT,
  status TEXT NOT NULL,
  total_sessions INTEGER NOT NULL,
  remaining_sessions INTEGER,
  expires_at TEXT,
  renews_pack_id TEXT,
  updated_at TEXT
);

CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  session_pack_id TEXT NOT NULL,
  status TEXT NOT NULL,
  scheduled_at TEXT
);

CREATE TABLE IF NOT EXISTS seat_reservations (
  id TEXT PRIMARY KEY,
  session_pack_id TEXT,
  mentor_id TEXT,
  status TEXT NOT NULL,
  grace_period_ends_at TEXT,
  released_at TEXT,
  updated_at TEXT
);

CREATE TABLE IF NOT EXISTS organizations (
  id TEXT PRIMARY KEY,
  name TEXT,
  personal_owner_id TEXT
);

CREATE TABLE IF NOT EXISTS organization_memberships (
  organization_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT,
  created_at TEXT,
  PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE IF NOT EXISTS purchases (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  product_id TEXT NOT NULL,
  organization_id TEXT,
  bulk_coupon_id TEXT,
  merchant_charge_id TEXT,
  status TEXT
);

CREATE TABLE IF NOT EXISTS product_resources (
  product_id TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  PRIMARY KEY (product_id, resource_id)
);

CREATE TABLE IF NOT EXISTS event_attendees (
  resource_id TEXT NOT NULL,
  email TEXT NOT NULL,
  response_status TEXT,
  removed_at TEXT
);
