-- Reserved for the pattern knowledge migration being written on another branch (numbers run
-- without gaps). It applies nothing; this file goes when that migration takes the number.
SELECT 1;
