-- Q2: type 4 is a string (its key: '\x03' then the text), __t > 1 a
-- value present and not null (else the null group, as in Tally);
-- integers sum from __i (type 2), numbers average from __n (types 2, 3).
SELECT if(f_metadata_2Ecategory__t > 1, substring(f_metadata_2Ecategory__k, 2), NULL)
           AS category,
       count() AS n,
       avgIf(f_metadata_2Eduration__n, f_metadata_2Eduration__t IN (2, 3)) AS avg_duration,
       sumIf(f_metadata_2Eviews__i, f_metadata_2Eviews__t = 2) AS total_views
FROM {table}
WHERE is_deleted = 0 AND f_metadata_2Etype__k = '\x03video'
  AND created_at >= toDateTime('2024-01-01 00:00:00')
GROUP BY category
HAVING n >= 1000
ORDER BY total_views DESC, category NULLS FIRST
LIMIT 10
