-- Q3: created_at is also a plain DateTime column; __t > 1 is a value
-- that is present and not null.
SELECT toStartOfDay(created_at) AS day, count() AS n,
       uniqExactIf(f_metadata_2Euser_5Fid__k, f_metadata_2Euser_5Fid__t > 1) AS users
FROM {table}
WHERE is_deleted = 0
GROUP BY day
ORDER BY day ASC
