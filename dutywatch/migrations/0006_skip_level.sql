-- Skip-level reporting chosen by hand (越级上报, issue 4): its own timeline entry.
-- Mirrors dutywatch.timeline.EntryKind.
ALTER TYPE timeline_kind ADD VALUE 'skip_level';  -- a leader chose to report directly to an ancestor room
