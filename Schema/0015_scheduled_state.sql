-- Switchboard 0015: a job state for work that cannot start soon (issue 15).
--
-- In a file of its own: a value added to an enum can be used only once the transaction that
-- added it has committed, and each migration is applied in a transaction of its own.
ALTER TYPE switchboard.job_state ADD VALUE IF NOT EXISTS 'scheduled' BEFORE 'available';
