-- The shop's tables, as the flows expect them.
CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  email TEXT NOT NULL,
  sku TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  amount_total INTEGER,
  status TEXT NOT NULL,
  printify_order_id TEXT
);
CREATE TABLE IF NOT EXISTS inventory (
  sku TEXT PRIMARY KEY,
  product_id TEXT NOT NULL,
  title TEXT NOT NULL,
  price INTEGER NOT NULL,
  enabled INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  synced_run TEXT
);
INSERT OR IGNORE INTO inventory (sku, product_id, title, price, enabled) VALUES ('OLD-1', 'prod_old', 'Retired tee', 2000, 1);
