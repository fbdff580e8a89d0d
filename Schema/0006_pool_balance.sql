-- Switchboard 0006: pool reservations that stay balanced under many concurrent reservers, booked
-- a batch of messages per transaction.
--
-- Why: `reserve_pool_sender` (0003) chose the least booked sender with `ORDER BY tat … FOR UPDATE`,
-- which under READ COMMITTED orders by the statement's snapshot: a reserver that waited for (or
-- raced) another's booking then booked a sender that was no longer the least booked. With 60
-- concurrent reservers on a pool of 5 this left one sender 4 to 16 s ahead of the others after
-- 300 bookings (measured with pgbench), and three worker processes took up to 14% longer than the
-- pool's capacity allows.
--
-- Now reservations on a pool take turns on this transaction-scoped lock. The turn holder locks the
-- pool's sender rows, reads them (its snapshot is taken after the previous holder's commit became
-- visible, so it sees every earlier booking), chooses senders for a whole batch of messages in the
-- worker (SwitchboardCore.PoolSelection) and writes the new booking times and sticky senders back
-- before committing. One transaction books many messages.

-- Two-key advisory locks whose first key is 1398227536 ("SWBP") are pools' turns.
-- (Pool ids beyond 2^31 share turns with smaller ones: harmless, only slower.)
CREATE FUNCTION switchboard.lock_pool(p_pool bigint) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(1398227536, (p_pool % 2147483648)::integer) $$;

-- Replaced by the batched reservation above (never documented for producers).
DROP FUNCTION switchboard.reserve_pool_sender(bigint, text, integer, text, text, double precision, double precision);
