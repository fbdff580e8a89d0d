-- Switchboard 0026: deliveries not yet settled well, newest first (the dashboard and
-- `events deliveries --state pending|failed` across subscriptions): without it those walk every
-- delivered row back from the newest.
CREATE INDEX event_deliveries_unsettled_idx ON switchboard.event_deliveries (id) WHERE state <> 'delivered';
