-- Q4: toDayOfWeek() is 1 = Monday .. 7 = Sunday; % 7 + 1 gives 1 = Sunday.
SELECT toDayOfWeek(created_at) % 7 + 1 AS dow, toHour(created_at) AS hour, count() AS n,
       avgIf(f_metadata_2Eviews__i, f_metadata_2Eviews__t = 2) AS avg_views
FROM {table}
WHERE is_deleted = 0
GROUP BY dow, hour
ORDER BY n DESC, dow, hour
