-- Q1 against Tally's table layout: status is a typed path; its sort key
-- (__k) is a type byte followed by the text.
SELECT substring(f_status__k, 2) AS status, count() AS n
FROM {table}
WHERE is_deleted = 0
GROUP BY status
ORDER BY n DESC, status
