-- The booking app's payments table, as the checkout flow expects it.
CREATE TABLE IF NOT EXISTS payments (
  id TEXT PRIMARY KEY,
  student_email TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  booking_uid TEXT,
  refund_id TEXT,
  failure_reason TEXT,
  updated_at TEXT
);
INSERT OR IGNORE INTO payments (id, student_email) VALUES ('pay_ok_1', 'sam@example.com');
INSERT OR IGNORE INTO payments (id, student_email) VALUES ('pay_nobook_1', 'fail-booking-kim@example.com');
