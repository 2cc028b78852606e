-- Q7: a missing user_id is a group of its own (NULL), as in Tally.
SELECT if(f_metadata_2Euser_5Fid__t > 1, substring(f_metadata_2Euser_5Fid__k, 2), NULL)
           AS user_id,
       count() AS n,
       sumIf(f_metadata_2Esize__i, f_metadata_2Esize__t = 2) AS bytes,
       max(created_at) AS last_seen
FROM {table}
WHERE is_deleted = 0
GROUP BY user_id
ORDER BY n DESC, user_id NULLS FIRST
LIMIT 10
