-- Number 0014 is reserved for work merged in parallel; this placeholder keeps the numbering
-- gapless on its own and is dropped when that migration lands.
SELECT 1;
